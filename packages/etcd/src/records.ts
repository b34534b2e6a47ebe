import {
  type CapabilityKind,
  ErrorCode,
  MAX_ADDRESS_LENGTH,
  MAX_VERSION_LENGTH,
  NodeId,
  type ProviderMetadata,
  parseCapabilityKind,
  validateLabels,
  validateProviderMetadata,
  WasmatrixError,
} from "@wasmatrix/core";
import { type KeyKind, parseKey } from "./keys.js";

/**
 * The values stored under the allowed keys. Each is checked against an allow-list of fields and
 * a size cap on the way in and on the way out: a record that carries anything else is refused
 * before it is written and ignored if some other writer put it there.
 */

/** A node as etcd knows it: who, where, what it serves. Liveness is the lease, not a field. */
export interface NodeRecord {
  readonly nodeId: NodeId;
  /** `host:port` of the node agent's gRPC API. */
  readonly address: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly capabilities: readonly CapabilityKind[];
  /** The protocol version the node speaks (`major.minor`). */
  readonly version: string;
  /** Instances the node runs at most; placement passes over it once full. Absent: no limit known. */
  readonly maxInstances?: number;
  /**
   * Set by a node shutting down on purpose, just before it revokes its lease: its instances have
   * stopped, so the key's disappearance is a departure, not a loss. Absent otherwise.
   */
  readonly leaving?: true;
}

/** A record's JSON is at most this many bytes: metadata is small, anything bigger is not metadata. */
export const MAX_RECORD_BYTES = 4 * 1024;

export const NODE_RECORD_FIELDS: ReadonlySet<string> = new Set([
  "nodeId",
  "address",
  "labels",
  "capabilities",
  "version",
  "maxInstances",
  "leaving",
]);

const NO_SPACE = /^[^\s\p{Cc}]+$/u;

function invalid(message: string, details: Record<string, unknown> = {}): WasmatrixError {
  return new WasmatrixError(ErrorCode.INVALID_REQUEST, message, details);
}

function plainObject(what: string, value: unknown): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw invalid(`${what} must be a JSON object`, { what });
  }
  return value as Record<string, unknown>;
}

function boundedString(what: string, value: unknown, max: number): string {
  if (typeof value !== "string" || value.length === 0 || value.length > max || !NO_SPACE.test(value)) {
    throw invalid(`${what} must be 1–${max} characters without spaces`, { what });
  }
  return value;
}

export function validateNodeRecord(value: unknown): NodeRecord {
  const record = plainObject("a node record", value);
  for (const field of Object.keys(record)) {
    if (!NODE_RECORD_FIELDS.has(field)) {
      throw invalid(
        `a node record in etcd holds only metadata: field '${field.slice(0, 64)}' is not allowed`,
        {
          field: field.slice(0, 64),
          allowed: [...NODE_RECORD_FIELDS],
        },
      );
    }
  }
  const capabilities = record["capabilities"] ?? [];
  if (!Array.isArray(capabilities)) throw invalid("node capabilities must be a list", {});
  const maxInstances = record["maxInstances"];
  if (maxInstances !== undefined && !(Number.isSafeInteger(maxInstances) && (maxInstances as number) >= 0)) {
    throw invalid("node 'maxInstances' must be a whole number or absent", {});
  }
  const leaving = record["leaving"];
  if (leaving !== undefined && leaving !== true && leaving !== false) {
    throw invalid("node 'leaving' must be true or absent", {});
  }
  return Object.freeze({
    nodeId: NodeId.parse(record["nodeId"]),
    address: boundedString("node address", record["address"], MAX_ADDRESS_LENGTH),
    labels: validateLabels(record["labels"] ?? {}),
    capabilities: Object.freeze([...new Set(capabilities.map((c) => parseCapabilityKind(c)))]),
    version: boundedString("node version", record["version"], MAX_VERSION_LENGTH),
    ...(maxInstances === undefined ? {} : { maxInstances: maxInstances as number }),
    ...(leaving === true ? { leaving: true as const } : {}),
  });
}

/** The JSON stored for a node; INVALID_REQUEST if the record is not pure, small metadata. */
export function encodeNodeRecord(value: unknown): { record: NodeRecord; json: string } {
  const record = validateNodeRecord(value);
  return { record, json: capped(JSON.stringify(record)) };
}

/** The JSON stored for a provider (core's ProviderMetadata, with its own allow-list). */
export function encodeProviderRecord(value: unknown): { record: ProviderMetadata; json: string } {
  const record = validateProviderMetadata(value);
  return { record, json: capped(JSON.stringify(record)) };
}

/** Reads a node record back, checking it names the node its key names. */
export function decodeNodeRecord(key: string, text: string): NodeRecord {
  const record = validateNodeRecord(parseValue(text));
  expectId(key, "node", record.nodeId);
  return record;
}

export function decodeProviderRecord(key: string, text: string): ProviderMetadata {
  const record = validateProviderMetadata(parseValue(text));
  expectId(key, "provider", record.providerId);
  return record;
}

function capped(json: string): string {
  const bytes = Buffer.byteLength(json);
  if (bytes > MAX_RECORD_BYTES) {
    throw invalid(`a metadata record is ${bytes} bytes; etcd records are at most ${MAX_RECORD_BYTES}`, {
      bytes,
      max: MAX_RECORD_BYTES,
    });
  }
  return json;
}

function parseValue(text: string): unknown {
  capped(text);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw invalid("a metadata record in etcd is not JSON", {});
  }
}

function expectId(key: string, kind: KeyKind, id: string): void {
  const parsed = parseKey(key);
  if (parsed === null || parsed.kind !== kind || parsed.id !== id) {
    throw invalid(`the record under '${key.slice(0, 160)}' names ${kind} '${id}'`, {
      key: key.slice(0, 160),
      id,
    });
  }
}

import {
  type CapabilityAssignment,
  type CapabilityKind,
  LOCAL_PROVIDER,
  type LocalProvider,
  parseCapabilityKind,
  validateAssignments,
} from "./capabilities.js";
import { InstanceId, ModuleDigest, NodeId, ProviderId } from "./ids.js";
import { DEFAULT_BACKOFF, type RestartPolicy, validateRestartPolicy } from "./restart-policy.js";
import { type InstanceStatus, parseInstanceStatus } from "./status.js";
import {
  invalid,
  isPlainObject,
  onlyFields,
  requireObject,
  requireString,
  requireTimestamp,
} from "./validation.js";

/**
 * The metadata wasmatrix keeps about instances and providers: ids, placement, status, policy,
 * assignments, labels. Never application data: every record is checked against an allow-list of
 * fields and every string has a length cap, so nothing else has anywhere to go.
 */

export interface InstanceMetadata {
  readonly instanceId: InstanceId;
  readonly moduleDigest: ModuleDigest;
  /** The node it is placed on; null while unplaced. */
  readonly nodeId: NodeId | null;
  readonly status: InstanceStatus;
  readonly restartPolicy: RestartPolicy;
  readonly assignments: readonly CapabilityAssignment[];
  /** Selector-style labels (`app=shop`); small and bounded, see MAX_LABELS. */
  readonly labels?: Readonly<Record<string, string>>;
  /** ms since the epoch */
  readonly createdAt: number;
  /** ms since the epoch */
  readonly updatedAt: number;
}

export interface ProviderMetadata {
  readonly providerId: ProviderId;
  readonly capability: CapabilityKind;
  /** `host:port` of a remote provider's gRPC endpoint, or `"local"`. */
  readonly address: string | LocalProvider;
  readonly version: string;
  /** The node it runs beside, when it does. */
  readonly nodeId?: NodeId;
}

/** What a caller supplies to register an instance; the rest takes defaults. */
export interface InstanceMetadataInput {
  instanceId: InstanceId | string;
  moduleDigest: ModuleDigest | string;
  /** @default null */
  nodeId?: NodeId | string | null;
  /** @default "pending" */
  status?: InstanceStatus;
  /** @default DEFAULT_BACKOFF */
  restartPolicy?: RestartPolicy;
  /** Objects or anything `validateAssignment` accepts. @default [] */
  assignments?: readonly unknown[];
  labels?: Record<string, string>;
  /** @default now() */
  createdAt?: number;
  /** @default createdAt */
  updatedAt?: number;
}

export const MAX_LABELS = 32;
export const MAX_LABEL_KEY_LENGTH = 63;
export const MAX_LABEL_VALUE_LENGTH = 128;
export const MAX_ADDRESS_LENGTH = 256;
export const MAX_VERSION_LENGTH = 64;

const LABEL_KEY = /^[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9])?$/;
const NO_SPACE = /^[^\s\p{Cc}]+$/u;

export const INSTANCE_FIELDS: ReadonlySet<string> = new Set([
  "instanceId",
  "moduleDigest",
  "nodeId",
  "status",
  "restartPolicy",
  "assignments",
  "labels",
  "createdAt",
  "updatedAt",
]);

export const PROVIDER_FIELDS: ReadonlySet<string> = new Set([
  "providerId",
  "capability",
  "address",
  "version",
  "nodeId",
]);

/** Labels are for selection, not storage: few, short, and plain. */
export function validateLabels(value: unknown): Readonly<Record<string, string>> {
  if (!isPlainObject(value)) throw invalid("labels must be an object of string values", {});
  const entries = Object.entries(value);
  if (entries.length > MAX_LABELS) {
    throw invalid(`at most ${MAX_LABELS} labels are allowed; got ${entries.length}`, {
      count: entries.length,
      max: MAX_LABELS,
    });
  }
  const labels: Record<string, string> = {};
  for (const [key, labelValue] of entries) {
    if (key.length > MAX_LABEL_KEY_LENGTH || !LABEL_KEY.test(key)) {
      throw invalid(
        `label key '${key.slice(0, 64)}' must be 1–${MAX_LABEL_KEY_LENGTH} characters of [A-Za-z0-9._/-], starting and ending with a letter or digit`,
        { key: key.slice(0, 64) },
      );
    }
    if (typeof labelValue !== "string" || labelValue.length > MAX_LABEL_VALUE_LENGTH) {
      throw invalid(
        `label '${key}' must have a string value of at most ${MAX_LABEL_VALUE_LENGTH} characters`,
        {
          key,
        },
      );
    }
    labels[key] = labelValue;
  }
  return Object.freeze(labels);
}

/** Checks instance metadata arriving as data; fills defaults; returns a frozen record. */
export function validateInstanceMetadata(value: unknown, now: () => number): InstanceMetadata {
  const record = requireObject("instance metadata", value);
  onlyFields("registry", record, INSTANCE_FIELDS);
  const instanceId = InstanceId.parse(record["instanceId"]);
  const moduleDigest = ModuleDigest.parse(record["moduleDigest"]);
  const nodeId = record["nodeId"] == null ? null : NodeId.parse(record["nodeId"]);
  const status = record["status"] === undefined ? "pending" : parseInstanceStatus(record["status"]);
  const restartPolicy =
    record["restartPolicy"] === undefined ? DEFAULT_BACKOFF : validateRestartPolicy(record["restartPolicy"]);
  const assignments = Object.freeze(validateAssignments(record["assignments"] ?? []));
  const createdAt =
    record["createdAt"] === undefined ? now() : requireTimestamp("createdAt", record["createdAt"]);
  const updatedAt =
    record["updatedAt"] === undefined ? createdAt : requireTimestamp("updatedAt", record["updatedAt"]);
  const metadata: InstanceMetadata = {
    instanceId,
    moduleDigest,
    nodeId,
    status,
    restartPolicy,
    assignments,
    ...(record["labels"] === undefined ? {} : { labels: validateLabels(record["labels"]) }),
    createdAt,
    updatedAt,
  };
  return Object.freeze(metadata);
}

export function validateProviderMetadata(value: unknown): ProviderMetadata {
  const record = requireObject("provider metadata", value);
  onlyFields("registry", record, PROVIDER_FIELDS);
  const providerId = ProviderId.parse(record["providerId"]);
  if (providerId === LOCAL_PROVIDER) {
    // Assignments use "local" to mean "in the node agent": a provider of that name would be unreachable.
    throw invalid("provider id 'local' is reserved for in-process providers; choose another id", {
      providerId,
    });
  }
  const capability = parseCapabilityKind(record["capability"]);
  const address = requireString("provider address", record["address"], MAX_ADDRESS_LENGTH);
  if (!NO_SPACE.test(address)) throw invalid("provider address must not contain spaces", { providerId });
  const version = requireString("provider version", record["version"], MAX_VERSION_LENGTH);
  if (!NO_SPACE.test(version)) throw invalid("provider version must not contain spaces", { providerId });
  const metadata: ProviderMetadata = {
    providerId,
    capability,
    address,
    version,
    ...(record["nodeId"] == null ? {} : { nodeId: NodeId.parse(record["nodeId"]) }),
  };
  return Object.freeze(metadata);
}

import { randomBytes } from "node:crypto";
import { ErrorCode, WasmatrixError } from "./errors.js";

/**
 * Branded id types. A value of type `InstanceId` can only come from a validating constructor,
 * so an unchecked string never reaches a map key, a log line or the wire.
 */
declare const brand: unique symbol;
type Brand<T, B extends string> = T & { readonly [brand]: B };

export type InstanceId = Brand<string, "InstanceId">;
export type NodeId = Brand<string, "NodeId">;
export type ProviderId = Brand<string, "ProviderId">;
/** `sha256:` followed by 64 lowercase hex digits. */
export type ModuleDigest = Brand<string, "ModuleDigest">;

export const MAX_ID_LENGTH = 128;
// Letters, digits and `.`, `_`, `-`, starting with a letter or digit: safe in URLs, etcd keys,
// file names, log fields and NATS subjects alike (no `*`, `>`, `/`, spaces).
const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const DIGEST_PATTERN = /^sha256:[0-9a-f]{64}$/;

function validateId(kind: string, value: unknown): string {
  if (typeof value !== "string" || value.length === 0) {
    throw new WasmatrixError(ErrorCode.INVALID_REQUEST, `${kind} must be a non-empty string`, {
      kind,
      value: typeof value === "string" ? value : String(value),
    });
  }
  if (value.length > MAX_ID_LENGTH) {
    throw new WasmatrixError(
      ErrorCode.INVALID_REQUEST,
      `${kind} is ${value.length} characters long; the maximum is ${MAX_ID_LENGTH}`,
      { kind, length: value.length, max: MAX_ID_LENGTH },
    );
  }
  if (!ID_PATTERN.test(value)) {
    throw new WasmatrixError(
      ErrorCode.INVALID_REQUEST,
      `${kind} '${value}' has characters outside [A-Za-z0-9._-] or does not start with a letter or digit`,
      { kind, value },
    );
  }
  return value;
}

function isValidId(value: unknown): boolean {
  return (
    typeof value === "string" && value.length > 0 && value.length <= MAX_ID_LENGTH && ID_PATTERN.test(value)
  );
}

// 12 random bytes in base32-ish lowercase: 2^96 space, collision-free in practice, and short
// enough to type. Ids never embed a counter, so nothing grows with the number generated.
function randomSuffix(): string {
  return randomBytes(12).toString("hex").slice(0, 20);
}

export const InstanceId = {
  parse: (value: unknown): InstanceId => validateId("instance id", value) as InstanceId,
  isValid: (value: unknown): value is InstanceId => isValidId(value),
  generate: (prefix = "inst"): InstanceId => `${prefix}-${randomSuffix()}` as InstanceId,
};

export const NodeId = {
  parse: (value: unknown): NodeId => validateId("node id", value) as NodeId,
  isValid: (value: unknown): value is NodeId => isValidId(value),
  generate: (prefix = "node"): NodeId => `${prefix}-${randomSuffix()}` as NodeId,
};

export const ProviderId = {
  parse: (value: unknown): ProviderId => validateId("provider id", value) as ProviderId,
  isValid: (value: unknown): value is ProviderId => isValidId(value),
  generate: (prefix = "prov"): ProviderId => `${prefix}-${randomSuffix()}` as ProviderId,
};

export const ModuleDigest = {
  parse(value: unknown): ModuleDigest {
    if (typeof value !== "string" || !DIGEST_PATTERN.test(value)) {
      throw new WasmatrixError(
        ErrorCode.INVALID_REQUEST,
        "module digest must be 'sha256:' followed by 64 lowercase hex digits",
        { value: String(value) },
      );
    }
    return value as ModuleDigest;
  },
  isValid: (value: unknown): value is ModuleDigest => typeof value === "string" && DIGEST_PATTERN.test(value),
  /** Builds a digest from a hex SHA-256 computed elsewhere (core does no hashing I/O). */
  fromHex: (hex: string): ModuleDigest => ModuleDigest.parse(`sha256:${hex.toLowerCase()}`),
};

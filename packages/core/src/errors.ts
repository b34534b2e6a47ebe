/**
 * The one error type of wasmatrix. Callers branch on `code`, never on `message`.
 * A code, once given, means one thing forever: add new codes, never repurpose old ones.
 */

export const ErrorCode = {
  /** The request is malformed: a missing field, a bad id, an unparseable permission. */
  INVALID_REQUEST: "INVALID_REQUEST",
  /** The bytes are not a valid WebAssembly module (bad magic, truncated, fails validation). */
  INVALID_MODULE: "INVALID_MODULE",
  /** The module is larger than the configured cap. */
  MODULE_TOO_LARGE: "MODULE_TOO_LARGE",
  INSTANCE_NOT_FOUND: "INSTANCE_NOT_FOUND",
  NODE_NOT_FOUND: "NODE_NOT_FOUND",
  PROVIDER_NOT_FOUND: "PROVIDER_NOT_FOUND",
  /** No trigger with that name. */
  TRIGGER_NOT_FOUND: "TRIGGER_NOT_FOUND",
  /** An object with that id exists already. */
  ALREADY_EXISTS: "ALREADY_EXISTS",
  /** The caller holds an assignment for the capability, but no permission for this operation. */
  PERMISSION_DENIED: "PERMISSION_DENIED",
  /** The instance has no assignment for the capability (or binding) it called. */
  CAPABILITY_NOT_ASSIGNED: "CAPABILITY_NOT_ASSIGNED",
  /** The provider serving a capability is stopped or unreachable. */
  PROVIDER_UNAVAILABLE: "PROVIDER_UNAVAILABLE",
  /** The node is lost, draining or unreachable. */
  NODE_UNAVAILABLE: "NODE_UNAVAILABLE",
  /** A limit was hit: memory, fuel, payload size, output size, queue depth, instance count. */
  RESOURCE_EXHAUSTED: "RESOURCE_EXHAUSTED",
  /** A deadline passed before the work finished. */
  TIMEOUT: "TIMEOUT",
  /**
   * A write was sent, but its answer was lost (the connection went away, or no answer came in
   * time): it may or may not have been applied. Read the state before retrying. Never raised for
   * a write that was not sent: that is PROVIDER_UNAVAILABLE or TIMEOUT, and it never happens later.
   */
  OUTCOME_UNKNOWN: "OUTCOME_UNKNOWN",
  /** The peer speaks a protocol major version we do not. */
  INCOMPATIBLE_VERSION: "INCOMPATIBLE_VERSION",
  /** The instance is in a state that does not allow the operation (e.g. invoke on a stopped one). */
  FAILED_PRECONDITION: "FAILED_PRECONDITION",
  /** No credentials, or credentials that don't verify (a bad, expired or revoked token; no client certificate). */
  UNAUTHENTICATED: "UNAUTHENTICATED",
  /** A module is unsigned, or its signature does not verify against a trusted key. */
  MODULE_SIGNATURE_INVALID: "MODULE_SIGNATURE_INVALID",
  /** A listener beyond loopback was asked for without TLS and without `--insecure`. */
  INSECURE_LISTEN: "INSECURE_LISTEN",
  /** No artifact with that reference in the registry (repository, tag or digest unknown). */
  ARTIFACT_NOT_FOUND: "ARTIFACT_NOT_FOUND",
  /** The registry could not be reached, or answered with an error of its own. */
  REGISTRY_UNAVAILABLE: "REGISTRY_UNAVAILABLE",
  /** Bytes that came back do not have the digest they were asked for by; they are refused. */
  DIGEST_MISMATCH: "DIGEST_MISMATCH",
  /** Anything unexpected. Always a bug or an environment failure, never a user mistake. */
  INTERNAL: "INTERNAL",
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * gRPC status codes (numeric values from grpc/status.h), kept here so that `core` need not
 * depend on a gRPC library. This table is the documented mapping; see docs/errors.md.
 */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

export type GrpcStatus = (typeof GrpcStatus)[keyof typeof GrpcStatus];

export const GRPC_STATUS_BY_CODE: Readonly<Record<ErrorCode, GrpcStatus>> = {
  INVALID_REQUEST: GrpcStatus.INVALID_ARGUMENT,
  INVALID_MODULE: GrpcStatus.INVALID_ARGUMENT,
  MODULE_TOO_LARGE: GrpcStatus.RESOURCE_EXHAUSTED,
  INSTANCE_NOT_FOUND: GrpcStatus.NOT_FOUND,
  NODE_NOT_FOUND: GrpcStatus.NOT_FOUND,
  PROVIDER_NOT_FOUND: GrpcStatus.NOT_FOUND,
  TRIGGER_NOT_FOUND: GrpcStatus.NOT_FOUND,
  ALREADY_EXISTS: GrpcStatus.ALREADY_EXISTS,
  PERMISSION_DENIED: GrpcStatus.PERMISSION_DENIED,
  CAPABILITY_NOT_ASSIGNED: GrpcStatus.PERMISSION_DENIED,
  PROVIDER_UNAVAILABLE: GrpcStatus.UNAVAILABLE,
  NODE_UNAVAILABLE: GrpcStatus.UNAVAILABLE,
  RESOURCE_EXHAUSTED: GrpcStatus.RESOURCE_EXHAUSTED,
  TIMEOUT: GrpcStatus.DEADLINE_EXCEEDED,
  OUTCOME_UNKNOWN: GrpcStatus.UNKNOWN,
  INCOMPATIBLE_VERSION: GrpcStatus.FAILED_PRECONDITION,
  FAILED_PRECONDITION: GrpcStatus.FAILED_PRECONDITION,
  UNAUTHENTICATED: GrpcStatus.UNAUTHENTICATED,
  MODULE_SIGNATURE_INVALID: GrpcStatus.PERMISSION_DENIED,
  INSECURE_LISTEN: GrpcStatus.FAILED_PRECONDITION,
  ARTIFACT_NOT_FOUND: GrpcStatus.NOT_FOUND,
  REGISTRY_UNAVAILABLE: GrpcStatus.UNAVAILABLE,
  DIGEST_MISMATCH: GrpcStatus.DATA_LOSS,
  INTERNAL: GrpcStatus.INTERNAL,
};

export function grpcStatusFor(code: ErrorCode): GrpcStatus {
  return GRPC_STATUS_BY_CODE[code];
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && Object.hasOwn(ErrorCode, value);
}

export type ErrorDetails = Readonly<Record<string, unknown>>;

/** The plain-data form of an error: what crosses threads, processes and the wire. */
export interface WasmatrixErrorData {
  code: ErrorCode;
  message: string;
  details: ErrorDetails;
  /** Milliseconds since the Unix epoch. */
  timestamp: number;
}

// A registered symbol survives duplicate copies of this package in one process, so
// `WasmatrixError.is` keeps working where `instanceof` would not.
const MARK = Symbol.for("wasmatrix.error");

export class WasmatrixError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorDetails;
  readonly timestamp: number;

  constructor(
    code: ErrorCode,
    message: string,
    details: ErrorDetails = {},
    options: { cause?: unknown; timestamp?: number } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "WasmatrixError";
    this.code = code;
    this.details = details;
    this.timestamp = options.timestamp ?? Date.now();
    Object.defineProperty(this, MARK, { value: true });
  }

  static is(value: unknown): value is WasmatrixError {
    return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[MARK] === true;
  }

  /** Wraps anything thrown into a WasmatrixError; unknown failures become INTERNAL. */
  static from(value: unknown, fallbackCode: ErrorCode = ErrorCode.INTERNAL): WasmatrixError {
    if (WasmatrixError.is(value)) return value;
    const message = value instanceof Error ? value.message : String(value);
    return new WasmatrixError(fallbackCode, message, {}, { cause: value });
  }

  static fromData(data: WasmatrixErrorData): WasmatrixError {
    const code = isErrorCode(data.code) ? data.code : ErrorCode.INTERNAL;
    return new WasmatrixError(code, data.message, data.details ?? {}, { timestamp: data.timestamp });
  }

  get grpcStatus(): GrpcStatus {
    return grpcStatusFor(this.code);
  }

  toData(): WasmatrixErrorData {
    return { code: this.code, message: this.message, details: this.details, timestamp: this.timestamp };
  }

  toJSON(): WasmatrixErrorData {
    return this.toData();
  }
}

/** Shorthands for the errors raised most often. */
export const errors = {
  invalidRequest: (message: string, details?: ErrorDetails) =>
    new WasmatrixError(ErrorCode.INVALID_REQUEST, message, details),
  notFound: (
    code:
      | typeof ErrorCode.INSTANCE_NOT_FOUND
      | typeof ErrorCode.NODE_NOT_FOUND
      | typeof ErrorCode.PROVIDER_NOT_FOUND,
    id: string,
  ) => new WasmatrixError(code, `no ${code.split("_")[0]!.toLowerCase()} with id '${id}'`, { id }),
  internal: (message: string, cause?: unknown) =>
    new WasmatrixError(ErrorCode.INTERNAL, message, {}, { cause }),
};

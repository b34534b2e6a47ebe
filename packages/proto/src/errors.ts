import { Metadata, type ServiceError, status } from "@grpc/grpc-js";
import { ErrorCode, isErrorCode, WasmatrixError, wellFormed } from "@wasmatrix/core";

/**
 * How a WasmatrixError crosses gRPC: the status code from the documented mapping, the message as
 * the status details, and the stable code, details and timestamp in metadata — so a client
 * rebuilds exactly the error the server raised.
 */
export const CODE_METADATA_KEY = "wasmatrix-code";
export const DETAILS_METADATA_KEY = "wasmatrix-details-bin";
export const TIMESTAMP_METADATA_KEY = "wasmatrix-timestamp";

/**
 * Caps that keep an error inside the trailers: gRPC's C core (and what is built on it) accepts
 * 8 KiB of metadata by default (`grpc.max_metadata_size`), and the message travels
 * percent-encoded, up to 12 characters per code point.
 */
export const MAX_STATUS_MESSAGE_ENCODED_CHARS = 4_096;
export const MAX_STATUS_DETAILS_BYTES = 2_048;

/**
 * A status message as it may go on the wire: well-formed (grpc-js `encodeURI`s it and throws on
 * a lone surrogate), cut by code point to MAX_STATUS_MESSAGE_ENCODED_CHARS once encoded.
 */
export function statusMessage(text: string): string {
  const clean = wellFormed(text);
  // Cut only what does not fit whole: a text just under the limit must not lose its end to the "…".
  if (clean.length * 12 <= MAX_STATUS_MESSAGE_ENCODED_CHARS) return clean;
  if (encodeURI(clean).length <= MAX_STATUS_MESSAGE_ENCODED_CHARS) return clean;
  const room = MAX_STATUS_MESSAGE_ENCODED_CHARS - encodeURI("…").length;
  let encoded = 0;
  let end = 0;
  for (const point of clean) {
    encoded += encodeURI(point).length;
    if (encoded > room) return `${clean.slice(0, end)}…`;
    end += point.length;
  }
  return clean;
}

export function toServiceError(error: unknown): Partial<ServiceError> {
  const wrapped = WasmatrixError.from(error);
  const metadata = new Metadata();
  metadata.set(CODE_METADATA_KEY, wrapped.code);
  metadata.set(TIMESTAMP_METADATA_KEY, String(wrapped.timestamp));
  let details = "{}";
  try {
    details = JSON.stringify(wrapped.details, wellFormedValue) ?? "{}";
  } catch {
    // Details that do not serialise (cycles) are dropped rather than losing the error.
  }
  if (Buffer.byteLength(details) > MAX_STATUS_DETAILS_BYTES) {
    details = JSON.stringify({ omitted: `details of ${Buffer.byteLength(details)} bytes` });
  }
  metadata.set(DETAILS_METADATA_KEY, Buffer.from(details));
  // `cause` is not sent; the server's guard logs it when the answer is INTERNAL.
  return { code: wrapped.grpcStatus, details: statusMessage(wrapped.message), metadata, cause: wrapped };
}

function wellFormedValue(_key: string, value: unknown): unknown {
  if (typeof value === "string") return wellFormed(value);
  return typeof value === "bigint" ? value.toString() : value;
}

/**
 * Whether this side's own call never reached a wasmatrix server (refused, reset, answered by
 * something else): fromServiceError reports that as NODE_UNAVAILABLE with the transport's
 * `grpcStatus`, which a server's own errors never carry.
 */
export function isUnreachable(error: WasmatrixError): boolean {
  return error.code === ErrorCode.NODE_UNAVAILABLE && typeof error.details["grpcStatus"] === "number";
}

/** Turns a failed call's error back into a WasmatrixError (transport failures included). */
export function fromServiceError(error: unknown): WasmatrixError {
  if (WasmatrixError.is(error)) return error;
  const service = error as Partial<ServiceError>;
  if (typeof service?.code !== "number") return WasmatrixError.from(error);
  const metadata = service.metadata;
  const code = metadata?.get(CODE_METADATA_KEY)[0];
  if (typeof code === "string" && isErrorCode(code)) {
    const raw = metadata?.get(DETAILS_METADATA_KEY)[0];
    let details: Record<string, unknown> = {};
    try {
      details = raw === undefined ? {} : (JSON.parse(raw.toString()) as Record<string, unknown>);
    } catch {
      details = {};
    }
    const timestamp = Number(metadata?.get(TIMESTAMP_METADATA_KEY)[0] ?? Date.now());
    return new WasmatrixError(code, service.details ?? service.message ?? code, details, { timestamp });
  }
  // No wasmatrix metadata: the failure happened below us (connection refused, deadline).
  // grpc-js appends an empty "Resolution note:" to connection failures; it tells a user nothing.
  const message = (service.details ?? service.message ?? "gRPC call failed").replace(
    /\s*Resolution note:\s*$/,
    "",
  );
  switch (service.code) {
    case status.UNAVAILABLE:
      return new WasmatrixError(ErrorCode.NODE_UNAVAILABLE, `server unavailable: ${message}`, {
        grpcStatus: service.code,
      });
    case status.DEADLINE_EXCEEDED:
      return new WasmatrixError(ErrorCode.TIMEOUT, `deadline exceeded: ${message}`, {
        grpcStatus: service.code,
      });
    case status.RESOURCE_EXHAUSTED:
      return new WasmatrixError(ErrorCode.RESOURCE_EXHAUSTED, message, { grpcStatus: service.code });
    case status.UNIMPLEMENTED:
      return new WasmatrixError(
        ErrorCode.INCOMPATIBLE_VERSION,
        `server does not implement this call: ${message}`,
        {
          grpcStatus: service.code,
        },
      );
    default:
      return new WasmatrixError(ErrorCode.INTERNAL, message, { grpcStatus: service.code });
  }
}

import { ErrorCode, WasmatrixError } from "@wasmatrix/core";
import { ErrorCode as NatsErrorCode } from "nats";

/** What the nats client's error carries; its `code` strings are not unique (see NoResponders). */
interface NatsLikeError {
  code?: string;
  message?: string;
  api_error?: { code: number; err_code?: number; description?: string };
}

/** JetStream error codes (`err_code`) that callers act on. */
export const JetStreamErrCode = {
  /** `wrong last sequence`: a compare-and-set lost the race. */
  WRONG_LAST_SEQUENCE: 10071,
  /** The stream's or the message's size limit. */
  MESSAGE_TOO_LARGE: 10054,
  /** Storing failed: usually the stream is at its `max_bytes`. */
  STORE_FAILED: 10077,
  STREAM_NOT_FOUND: 10059,
  CONSUMER_NOT_FOUND: 10014,
} as const;

export function jetStreamErrCode(error: unknown): number | undefined {
  return (error as NatsLikeError | null)?.api_error?.err_code;
}

/** Failures that say the message was refused before, or by, the server: it was not applied. */
const REFUSED: ReadonlySet<string> = new Set([
  NatsErrorCode.NoResponders,
  NatsErrorCode.MaxPayloadExceeded,
  NatsErrorCode.BadSubject,
  NatsErrorCode.BadPayload,
  NatsErrorCode.BadHeader,
  NatsErrorCode.PermissionsViolation,
  NatsErrorCode.AuthorizationViolation,
  NatsErrorCode.JetStreamInvalidAck,
]);

/**
 * Whether a failed write was answered: JetStream refused it (an API error such as a lost
 * compare-and-set), nobody was there to take it, or the client refused it before sending. Any
 * other failure (a timeout, a lost connection, something unforeseen) leaves its outcome unknown.
 */
export function writeRefused(error: unknown): boolean {
  if (WasmatrixError.is(error)) return false;
  const e = (error ?? {}) as NatsLikeError;
  return e.api_error !== undefined || (e.code !== undefined && REFUSED.has(e.code));
}

/**
 * Turns whatever the nats client threw into a WasmatrixError; `what` names the operation for the
 * message. The client's code "503" means "no responders" to a core request and "JetStream not
 * enabled" to a JetStream call, so only the caller, through `api`, can tell them apart.
 */
export function natsFailure(
  error: unknown,
  what: string,
  link: { connected: boolean },
  api: "core" | "jetstream" = "core",
): WasmatrixError {
  if (WasmatrixError.is(error)) return error;
  const e = (error ?? {}) as NatsLikeError;
  const message = e.api_error?.description ?? e.message ?? String(error);
  const details = { operation: what, ...(e.code === undefined ? {} : { natsCode: e.code }) };
  const fail = (code: ErrorCode, text: string) =>
    new WasmatrixError(code, `${what}: ${text}`, details, { cause: error });
  if (!link.connected) return fail(ErrorCode.PROVIDER_UNAVAILABLE, `NATS is unreachable (${message})`);
  switch (jetStreamErrCode(error)) {
    case JetStreamErrCode.MESSAGE_TOO_LARGE:
    case JetStreamErrCode.STORE_FAILED:
      return fail(ErrorCode.RESOURCE_EXHAUSTED, message);
  }
  switch (e.code) {
    case NatsErrorCode.Timeout:
      return fail(ErrorCode.TIMEOUT, `NATS did not answer in time (${message})`);
    case NatsErrorCode.NoResponders:
      return api === "jetstream"
        ? fail(
            ErrorCode.PROVIDER_UNAVAILABLE,
            "JetStream is not enabled on the NATS server (start it with -js)",
          )
        : fail(ErrorCode.PROVIDER_UNAVAILABLE, "no one is subscribed to answer this request");
    case NatsErrorCode.MaxPayloadExceeded:
      return fail(ErrorCode.RESOURCE_EXHAUSTED, `the message exceeds the server's max_payload (${message})`);
    case NatsErrorCode.BadSubject:
      return fail(ErrorCode.INVALID_REQUEST, message);
    case NatsErrorCode.PermissionsViolation:
    case NatsErrorCode.AuthorizationViolation:
      return fail(ErrorCode.PERMISSION_DENIED, `the NATS server refused it (${message})`);
    case NatsErrorCode.ConnectionClosed:
    case NatsErrorCode.ConnectionDraining:
    case NatsErrorCode.ConnectionRefused:
    case NatsErrorCode.ConnectionTimeout:
    case NatsErrorCode.Disconnect:
      return fail(ErrorCode.PROVIDER_UNAVAILABLE, `NATS is unreachable (${message})`);
    default:
      return fail(ErrorCode.INTERNAL, message);
  }
}

import { ErrorCode, WasmatrixError } from "@wasmatrix/core";

/**
 * The one way the instrumenter fails: the bytes are not a module it can rewrite. The offset is
 * absolute in the input, so a user can find the byte with `xxd -s`.
 */
export function invalidModule(
  message: string,
  offset: number,
  details: Record<string, unknown> = {},
): WasmatrixError {
  return new WasmatrixError(ErrorCode.INVALID_MODULE, `${message} at byte offset ${offset}`, {
    reason: "instrumentation",
    offset,
    ...details,
  });
}

/** A valid module that uses a proposal the instrumenter (and Node 20's V8) does not handle. */
export function unsupportedFeature(feature: string, offset: number): WasmatrixError {
  return invalidModule(`${feature} is not supported`, offset, { unsupported: feature });
}

export function hex(byte: number): string {
  return `0x${byte.toString(16).padStart(2, "0")}`;
}

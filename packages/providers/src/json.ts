import { ErrorCode, WasmatrixError } from "@wasmatrix/core";

const decoder = new TextDecoder("utf-8", { fatal: true });
export const encoder = new TextEncoder();

/** Parses a capability payload that must be a JSON object. */
export function parseObject(payload: Uint8Array, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(payload));
  } catch (error) {
    throw new WasmatrixError(
      ErrorCode.INVALID_REQUEST,
      `${what}: payload is not JSON: ${(error as Error).message}`,
    );
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new WasmatrixError(ErrorCode.INVALID_REQUEST, `${what}: payload must be a JSON object`);
  }
  return value as Record<string, unknown>;
}

export function stringField(object: Record<string, unknown>, field: string, what: string): string {
  const value = object[field];
  if (typeof value !== "string") {
    throw new WasmatrixError(ErrorCode.INVALID_REQUEST, `${what}: field '${field}' must be a string`, {
      field,
    });
  }
  return value;
}

// Standard alphabet, `=` padding optional. Buffer.from(text, "base64") skips whatever is not
// base64 and returns the rest, so a typo would be stored as garbage instead of refused.
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * The bytes of a base64 field (`valueBase64`, `dataBase64`, `bodyBase64`), or undefined when the
 * field is absent or not a string; refuses text that is not base64 with INVALID_REQUEST.
 */
export function base64Field(
  object: Record<string, unknown>,
  field: string,
  what: string,
): Buffer | undefined {
  const text = object[field];
  if (typeof text !== "string") return undefined;
  const padded = text.endsWith("=");
  if (!BASE64.test(text) || (padded ? text.length % 4 !== 0 : text.length % 4 === 1)) {
    throw new WasmatrixError(
      ErrorCode.INVALID_REQUEST,
      `${what}: field '${field}' is not base64 (A-Z, a-z, 0-9, '+', '/', '=' padding); encode the bytes with standard base64`,
      { field },
    );
  }
  return Buffer.from(text, "base64");
}

export function jsonBytes(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

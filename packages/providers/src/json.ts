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

export function jsonBytes(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

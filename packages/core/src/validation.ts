import { ErrorCode, WasmatrixError } from "./errors.js";
import { truncate } from "./text.js";

export { truncate };

/**
 * Shared checks for records that arrive as untyped data (from the wire, a CLI flag, a node
 * report). TypeScript types vanish at those edges, so the shapes are checked again at runtime.
 * Internal to core: not exported from the package index.
 */

export function invalid(message: string, details: Record<string, unknown> = {}): WasmatrixError {
  return new WasmatrixError(ErrorCode.INVALID_REQUEST, message, details);
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

export function requireObject(what: string, value: unknown): Record<string, unknown> {
  if (!isPlainObject(value)) throw invalid(`${what} must be a plain object`, { what });
  return value;
}

/**
 * Refuses any key outside the allow-list. This is the guard that keeps application data out of
 * metadata: a field nobody declared has nowhere legitimate to come from.
 */
export function onlyFields(what: string, value: Record<string, unknown>, allowed: ReadonlySet<string>): void {
  for (const key of Object.keys(value)) {
    if (!allowed.has(key)) {
      throw invalid(`${what} stores only metadata: field '${truncate(key, 64)}' is not allowed`, {
        what,
        field: truncate(key, 64),
        allowed: [...allowed],
      });
    }
  }
}

export function requireString(what: string, value: unknown, maxLength: number): string {
  if (typeof value !== "string" || value.length === 0) {
    throw invalid(`${what} must be a non-empty string`, { what });
  }
  if (value.length > maxLength) {
    throw invalid(`${what} is ${value.length} characters long; the maximum is ${maxLength}`, {
      what,
      length: value.length,
      max: maxLength,
    });
  }
  return value;
}

export function requireTimestamp(what: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw invalid(`${what} must be a non-negative number of milliseconds since the epoch`, { what });
  }
  return value;
}

export function requireCount(what: string, value: unknown, min = 0): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
    throw invalid(`${what} must be a whole number ≥ ${min}`, { what, value: describe(value) });
  }
  return value;
}

/** A short, safe rendering of an arbitrary value for error details. */
export function describe(value: unknown): string {
  if (typeof value === "string") return truncate(value, 64);
  if (typeof value === "number" || typeof value === "boolean" || value == null) return String(value);
  return typeof value;
}

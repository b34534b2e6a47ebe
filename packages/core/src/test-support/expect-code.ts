import { expect } from "vitest";
import { type ErrorCode, WasmatrixError } from "../errors.js";

/** Runs `fn`, expects a WasmatrixError with `code`, and returns it for further checks. */
export function expectCode(fn: () => unknown, code: ErrorCode): WasmatrixError {
  try {
    fn();
  } catch (error) {
    expect(WasmatrixError.is(error), `expected a WasmatrixError, got ${String(error)}`).toBe(true);
    const failure = error as WasmatrixError;
    expect(failure.code, failure.message).toBe(code);
    return failure;
  }
  throw new Error(`expected ${code} to be thrown, but nothing was`);
}

/** Awaits `call`, expects it to reject with a WasmatrixError, and returns that error for further checks. */
export async function rejection(call: Promise<unknown>): Promise<WasmatrixError> {
  const error = await call.then(
    () => {
      throw new Error("the call succeeded; it should have failed");
    },
    (failure: unknown) => failure,
  );
  if (!WasmatrixError.is(error)) throw new Error(`expected a WasmatrixError, got ${String(error)}`);
  return error;
}

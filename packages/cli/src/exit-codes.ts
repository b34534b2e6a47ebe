import type { Outcome } from "@wasmatrix/runtime";

/**
 * Exit codes of `wasmatrix run`. A guest's own exit code passes through; the rest are chosen so
 * that scripts can tell a limit from a trap from a usage error (documented in docs/cli.md).
 */
export const EXIT = {
  OK: 0,
  /** A reactor answered the invocation with `__guest_error`. */
  GUEST_ERROR: 1,
  /** Fuel exhausted or deadline exceeded, as coreutils `timeout` reports a timeout. */
  LIMIT: 124,
  /** wasmatrix could not run the module: bad file, bad module, bad option. */
  USAGE: 125,
  /** Any other crash (trap, memory limit, stack overflow, host error), as wasmtime reports a trap. */
  TRAP: 134,
} as const;

export function exitCodeFor(outcome: Outcome): number {
  if (outcome.status === "ok") return EXIT.OK;
  if (outcome.reason === "exit") return outcome.exitCode ?? EXIT.TRAP;
  if (outcome.reason === "fuel_exhausted" || outcome.reason === "timeout") return EXIT.LIMIT;
  return EXIT.TRAP;
}

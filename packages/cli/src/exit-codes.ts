/**
 * Exit codes of `wasmatrix run`. A guest's own exit code passes through; the rest are chosen so
 * that scripts can tell a limit from a trap from a usage error (documented in docs/cli.md).
 * `wasmatrix invoke` maps a crashed invocation with the same table.
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

/**
 * Exit codes of the commands that talk to a server (`up`, `start`, `ps`, `invoke`…), after
 * sysexits.h where one fits: a script can tell "the server refused" from "I typed it wrong"
 * from "there is no server".
 */
export const CLUSTER_EXIT = {
  OK: 0,
  /** The server answered with an error (unknown instance, refused module, guest error…). */
  FAILED: 1,
  /** The command line is wrong: unknown option, bad value, unreadable file. */
  USAGE: 2,
  /** No server answered at the address (EX_UNAVAILABLE). */
  UNAVAILABLE: 69,
} as const;

/**
 * The fields of an outcome the exit code depends on: the runtime's `Outcome` and the protocol's
 * `Outcome` message both have this shape.
 */
export interface OutcomeLike {
  readonly status: string;
  readonly reason?: string;
  readonly exitCode?: number;
}

export function exitCodeFor(outcome: OutcomeLike): number {
  if (outcome.status === "ok") return EXIT.OK;
  if (outcome.reason === "exit") return outcome.exitCode ?? EXIT.TRAP;
  if (outcome.reason === "fuel_exhausted" || outcome.reason === "timeout") return EXIT.LIMIT;
  return EXIT.TRAP;
}

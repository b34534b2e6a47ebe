import type { WasmatrixErrorData } from "@wasmatrix/core";

/**
 * Why a run or an invocation crashed. `exit` carries the code in `exitCode`; `trap` is any other
 * Wasm trap (divide by zero, bad indirect call…) with V8's message in `trap`.
 */
export type CrashReason =
  | "unreachable"
  | "memory_out_of_bounds"
  | "stack_overflow"
  | "fuel_exhausted"
  | "timeout"
  | "memory_limit"
  | "host_error"
  | "exit"
  | "trap"
  | "worker_lost";

export const CRASH_REASONS: readonly CrashReason[] = [
  "unreachable",
  "memory_out_of_bounds",
  "stack_overflow",
  "fuel_exhausted",
  "timeout",
  "memory_limit",
  "host_error",
  "exit",
  "trap",
  "worker_lost",
];

/** What a run or invocation cost. */
export interface Metering {
  wallTimeMs: number;
  fuelUsed: number;
  /** Largest linear memory seen, in bytes. */
  peakMemoryBytes: number;
  hostCalls: number;
}

export type Outcome =
  | { status: "ok"; exitCode: number; metering: Metering }
  | {
      status: "crashed";
      reason: CrashReason;
      /** The trap or error message, for people. */
      trap: string;
      exitCode?: number;
      metering: Metering;
    };

/**
 * The result of one reactor invocation. A guest that answers through `__guest_error` has not
 * crashed: the outcome is `ok` and `guestError` holds its message.
 */
export interface InvokeResult {
  outcome: Outcome;
  response?: Uint8Array;
  guestError?: string;
  /** Set when the invocation was refused before the guest ran (payload too large…). */
  error?: WasmatrixErrorData;
}

/** Human label for a reason, as `exit(3)` for exits. */
export function describeCrash(outcome: Outcome): string {
  if (outcome.status === "ok") return "ok";
  return outcome.reason === "exit" ? `exit(${outcome.exitCode ?? "?"})` : outcome.reason;
}

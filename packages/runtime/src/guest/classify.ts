import type { CrashReason } from "../outcome.js";
import { FuelTrap } from "./fuel.js";
import { GuestAbiError, ResponseTooLarge } from "./wapc.js";

export interface Classified {
  reason: CrashReason;
  trap: string;
}

/** Thrown by the `env.abort` import that AssemblyScript guests use. */
export class GuestAbort extends Error {
  override name = "GuestAbort";
}

/**
 * Maps whatever ended a guest's execution to one crash reason. V8's trap messages are the only
 * signal it gives for Wasm traps, so this is the one place that reads them.
 */
export function classifyError(error: unknown, memoryLimitHit: boolean): Classified {
  if (error instanceof FuelTrap) return { reason: error.reason, trap: error.message };
  if (error instanceof GuestAbiError) return { reason: error.reason, trap: error.message };
  if (error instanceof ResponseTooLarge) return { reason: "host_error", trap: error.message };
  if (error instanceof RangeError && /call stack/i.test(error.message)) {
    return { reason: "stack_overflow", trap: error.message };
  }
  const message = error instanceof Error ? error.message : String(error);
  // A trap right after the host refused to grow memory is the guest failing to cope with the cap.
  if (memoryLimitHit && (error instanceof WebAssembly.RuntimeError || error instanceof GuestAbort)) {
    return { reason: "memory_limit", trap: message };
  }
  if (error instanceof GuestAbort) return { reason: "unreachable", trap: message };
  if (error instanceof WebAssembly.RuntimeError) {
    if (/unreachable/i.test(message)) return { reason: "unreachable", trap: message };
    if (/memory access out of bounds|out of bounds memory access/i.test(message)) {
      return { reason: "memory_out_of_bounds", trap: message };
    }
    return { reason: "trap", trap: message };
  }
  if (error instanceof RangeError && /memory/i.test(message))
    return { reason: "memory_limit", trap: message };
  return { reason: "host_error", trap: message };
}

/**
 * The instrumenter: a hand-written WebAssembly binary rewriter that makes a guest meterable and
 * its memory cappable before it is compiled. It
 * - appends two function imports, FUEL_IMPORT and GROW_IMPORT (defined functions move up by 2),
 * - appends a mutable i64 global, exported as FUEL_GLOBAL_EXPORT, starting at 0,
 * - charges fuel at every function entry and loop head (cost model: expression.ts),
 * - routes every `memory.grow` through GROW_IMPORT,
 * - clamps the maximum of a defined memory 0 and exports it as MEMORY_EXPORT,
 * and copies everything else byte for byte. It refuses modules that import from the `wasmatrix`
 * namespace or export the names above, so a module cannot be instrumented twice or reach them.
 *
 * Fuel is deterministic: the same module given the same input (arguments, payload, host-call
 * answers) uses the same fuel. Clocks, randomness and host calls are input in that sense; the
 * cost of host calls themselves is not metered here.
 */
import { ErrorCode, WasmatrixError } from "@wasmatrix/core";
import type { ModuleInfo } from "./info.js";
import { rewriteModule } from "./rewrite.js";

export { FUEL_GLOBAL_EXPORT, FUEL_IMPORT, GROW_IMPORT, MEMORY_EXPORT } from "./abi.js";
export type { ModuleInfo } from "./info.js";

interface InstrumentOptions {
  /**
   * Ceiling, in 64 KiB pages, for the maximum of a memory the module defines; the module's own
   * smaller maximum is kept. Per-instance caps are enforced at run time by the memory_grow import.
   */
  maxMemoryPages: number;
}

/**
 * Instruments a module that already passed `WebAssembly.validate`. Throws WasmatrixError
 * INVALID_MODULE, with the byte offset in `details.offset`, for anything it cannot rewrite:
 * malformed bytes, or proposals Node 20 does not ship (memory64, multi-memory, GC, exnref).
 */
export function instrument(
  bytes: Uint8Array,
  options: InstrumentOptions,
): { bytes: Uint8Array<ArrayBuffer>; info: ModuleInfo } {
  const { maxMemoryPages } = options;
  if (!Number.isInteger(maxMemoryPages) || maxMemoryPages < 0) {
    throw new WasmatrixError(
      ErrorCode.INVALID_REQUEST,
      `maxMemoryPages must be a non-negative integer, got ${maxMemoryPages}`,
      { field: "maxMemoryPages" },
    );
  }
  try {
    return rewriteModule(bytes, maxMemoryPages);
  } catch (error) {
    if (WasmatrixError.is(error)) throw error;
    // The reader checks every bound, so this is a bug; still, the caller was promised one error type.
    const message = error instanceof Error ? error.message : String(error);
    throw new WasmatrixError(
      ErrorCode.INVALID_MODULE,
      `module could not be instrumented: ${message}`,
      { reason: "instrumentation" },
      { cause: error },
    );
  }
}

/**
 * The instrumenter: a hand-written WebAssembly binary rewriter that makes a guest meterable and
 * its memory cappable before it is compiled. It adds two imports (FUEL_IMPORT, GROW_IMPORT), an
 * exported i64 fuel global, a fuel charge at every function entry and loop head, routes every
 * `memory.grow` through the host, clamps and exports memory 0. Everything else is copied byte for
 * byte. See expression.ts for the cost model.
 */
import { ErrorCode, WasmatrixError } from "@wasmatrix/core";
import type { ModuleInfo } from "./info.js";
import { rewriteModule } from "./rewrite.js";

export { FUEL_GLOBAL_EXPORT, FUEL_IMPORT, GROW_IMPORT, MEMORY_EXPORT } from "./abi.js";
export type { ModuleInfo } from "./info.js";

export interface InstrumentOptions {
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

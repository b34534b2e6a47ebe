/**
 * The contract between instrumented guests and the host (guest/fuel.ts, guest/memory-guard.ts).
 * Changing a name here breaks every cached compiled module: bump the cache key with it.
 */

/** `() -> ()`: called when the fuel counter goes negative; refills it or traps. */
export const FUEL_IMPORT = { module: "wasmatrix", name: "fuel" } as const;
/** `(i32) -> i32`: replaces `memory.grow`, so the host enforces each instance's cap. */
export const GROW_IMPORT = { module: "wasmatrix", name: "memory_grow" } as const;
/** Exported mutable i64 global holding the fuel left; starts at 0. */
export const FUEL_GLOBAL_EXPORT = "__wasmatrix_fuel";
/** Memory 0, when the module defines it, is exported under this name too. */
export const MEMORY_EXPORT = "__wasmatrix_memory";

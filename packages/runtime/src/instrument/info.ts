export type ExternalKind = "func" | "table" | "memory" | "global" | "tag";

/** Import and export kinds by their binary code. */
export const EXTERNAL_KINDS: readonly ExternalKind[] = ["func", "table", "memory", "global", "tag"];

/** What the runtime needs to know about a module, read while instrumenting it. */
export interface ModuleInfo {
  /** The original module's imports (the instrumenter's own are not listed). */
  imports: { module: string; name: string; kind: ExternalKind }[];
  /** The original module's exports (the instrumenter's own are not listed). */
  exports: { name: string; kind: ExternalKind }[];
  /**
   * Memory 0, or null when the module has none. `maxPages` is the maximum in the instrumented
   * output (clamped for a defined memory, as declared for an imported one); `declaredMaxPages`
   * is the original's.
   */
  memory: {
    imported: boolean;
    minPages: number;
    maxPages: number | null;
    declaredMaxPages: number | null;
  } | null;
  /** Defined (non-imported) functions. */
  functionCount: number;
  /** Fuel charge sites inserted: one per defined function plus one per `loop`. */
  meteredPoints: number;
  hasStart: boolean;
}

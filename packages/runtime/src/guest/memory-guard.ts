import { WASM_PAGE_BYTES } from "../limits.js";

/**
 * The `wasmatrix.memory_grow` import that replaces every `memory.grow` in the guest. Routing
 * growth through the host lets one compiled module serve instances with different memory caps
 * (the cap is per instance, the compiled module is shared through the cache) and tells us when a
 * crash followed a refused growth, so it can be reported as `memory_limit`.
 */
export class MemoryGuard {
  private memory: WebAssembly.Memory | null = null;
  peakBytes = 0;
  limitHit = false;

  constructor(private readonly capPages: number) {}

  bind(memory: WebAssembly.Memory): void {
    this.memory = memory;
    this.peakBytes = Math.max(this.peakBytes, memory.buffer.byteLength);
  }

  /** Resets per-run observations; peak memory is reported per run. */
  begin(): void {
    this.limitHit = false;
    this.peakBytes = this.memory?.buffer.byteLength ?? 0;
  }

  readonly onGrow = (deltaPages: number): number => {
    const memory = this.memory;
    if (memory === null) return -1;
    const currentPages = memory.buffer.byteLength / WASM_PAGE_BYTES;
    // memory.grow's operand is an unsigned i32.
    const delta = deltaPages >>> 0;
    if (currentPages + delta > this.capPages) {
      this.limitHit = true;
      return -1;
    }
    try {
      const previous = memory.grow(delta);
      this.peakBytes = Math.max(this.peakBytes, memory.buffer.byteLength);
      return previous;
    } catch {
      // The engine refused (declared maximum or out of address space): the spec's answer is -1.
      this.limitHit = true;
      return -1;
    }
  };
}

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ExtismKernel } from "./extism-kernel.js";
import { GuestAbiError } from "./wapc.js";

type Step = { op: "alloc"; size: number } | { op: "free"; pick: number } | { op: "reset" };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant("alloc" as const), size: fc.nat(3000) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant("free" as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("reset" as const) }) },
);

describe("Extism kernel memory", () => {
  it("keeps live blocks disjoint, within the cap, with their lengths and contents, whatever is allocated and freed", () => {
    fc.assert(
      fc.property(
        fc.array(step, { maxLength: 200 }),
        fc.integer({ min: 64, max: 64 * 1024 }),
        (steps, cap) => {
          const kernel = new ExtismKernel(cap);
          const live = new Map<number, { size: number; fill: number }>();
          let fill = 1;
          for (const s of steps) {
            if (s.op === "reset") {
              kernel.reset();
              live.clear();
            } else if (s.op === "free") {
              const offsets = [...live.keys()];
              if (offsets.length === 0) continue;
              const offset = offsets[s.pick % offsets.length]!;
              kernel.free(offset);
              live.delete(offset);
              expect(kernel.length(offset)).toBe(0);
            } else {
              const offset = kernel.alloc(s.size);
              if (offset === 0) {
                expect(kernel.limitHit).toBe(true);
                continue;
              }
              expect(offset).toBeGreaterThanOrEqual(8);
              expect(offset + s.size).toBeLessThanOrEqual(cap);
              expect(kernel.block(offset)!.every((b) => b === 0)).toBe(true);
              fill = (fill % 250) + 1;
              kernel.block(offset)!.fill(fill);
              live.set(offset, { size: s.size, fill });
            }
            const spans = [...live].map(([o, { size }]) => [o, o + Math.max(size, 1)] as const);
            spans.sort((a, b) => a[0] - b[0]);
            for (let i = 1; i < spans.length; i++)
              expect(spans[i]![0]).toBeGreaterThanOrEqual(spans[i - 1]![1]);
            for (const [offset, { size, fill: f }] of live) {
              expect(kernel.length(offset)).toBe(size);
              expect(kernel.block(offset)!.every((b) => b === f)).toBe(true);
            }
          }
        },
      ),
    );
  });

  it("refuses an allocation past its cap with offset 0 and remembers that it did", () => {
    const kernel = new ExtismKernel(1024);
    expect(kernel.alloc(2000)).toBe(0);
    expect(kernel.limitHit).toBe(true);
    kernel.reset();
    expect(kernel.limitHit).toBe(false);
    expect(kernel.alloc(500)).not.toBe(0);
  });

  it("traps loads and stores outside what was allocated, and at offset 0", () => {
    const kernel = new ExtismKernel(1024);
    const offset = kernel.alloc(16);
    kernel.storeU64(offset + 8, 42n);
    expect(kernel.loadU64(offset + 8)).toBe(42n);
    expect(() => kernel.loadU8(0)).toThrow(GuestAbiError);
    expect(() => kernel.loadU64(offset + 16)).toThrow(GuestAbiError);
    expect(() => kernel.storeU8(10_000, 1)).toThrow(GuestAbiError);
  });

  it("frees everything at reset, so a plugin can be called without end", () => {
    const kernel = new ExtismKernel(64 * 1024);
    let refused = 0;
    for (let call = 0; call < 100_000; call++) {
      kernel.reset();
      if (kernel.alloc(100) === 0 || kernel.alloc(200) === 0) refused++;
    }
    expect(refused).toBe(0);
    expect(kernel.usedBytes).toBeLessThan(1024);
  });
});

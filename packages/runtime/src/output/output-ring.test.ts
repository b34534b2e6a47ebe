import { WasmatrixError } from "@wasmatrix/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { OutputBudget, OutputRing } from "./index.js";

const RUNS = 200;

type Step = { kind: "write"; bytes: Uint8Array } | { kind: "clear" } | { kind: "read" };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.uint8Array({ maxLength: 96 }).map((bytes) => ({ kind: "write", bytes }) as Step),
  },
  // Large writes cross the initial allocation and the capacity in one step.
  {
    weight: 1,
    arbitrary: fc
      .uint8Array({ minLength: 4000, maxLength: 9000 })
      .map((bytes) => ({ kind: "write", bytes }) as Step),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "clear" } as Step) },
  { weight: 2, arbitrary: fc.constant({ kind: "read" } as Step) },
);

/** The specification: concatenate everything written since the last clear, keep the tail. */
class Model {
  written: number[] = [];
  constructor(readonly capacity: number) {}
  get retained(): Uint8Array {
    return Uint8Array.from(this.written.slice(Math.max(0, this.written.length - this.capacity)));
  }
}

describe("OutputRing", () => {
  it("retains exactly the newest capacity bytes of everything written since the last clear", () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 4000, max: 12_000 })),
        fc.array(stepArb, { maxLength: 60 }),
        (capacity, steps) => {
          const ring = new OutputRing(capacity);
          const model = new Model(capacity);
          for (const step of steps) {
            if (step.kind === "write") {
              ring.write(step.bytes);
              model.written.push(...step.bytes);
            } else if (step.kind === "clear") {
              ring.clear();
              model.written = [];
            } else {
              expect(ring.read()).toEqual(model.retained);
            }
            const retained = model.retained;
            expect(ring.size).toBe(retained.byteLength);
            expect(ring.totalBytes).toBe(model.written.length);
            expect(ring.droppedBytes).toBe(model.written.length - retained.byteLength);
            expect(ring.totalBytes).toBe(ring.size + ring.droppedBytes);
            expect(ring.size).toBeLessThanOrEqual(capacity);
          }
          expect(ring.read()).toEqual(model.retained);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("keeps its own copy of written bytes and hands out copies", () => {
    const ring = new OutputRing(16);
    const input = new TextEncoder().encode("hello");
    ring.write(input);
    input.fill(0);
    const first = ring.read();
    first.fill(0);
    expect(ring.text()).toBe("hello");
  });

  it("retains nothing at capacity zero but still counts what was written", () => {
    const ring = new OutputRing(0);
    ring.write(new Uint8Array(10));
    expect(ring.size).toBe(0);
    expect(ring.totalBytes).toBe(10);
    expect(ring.droppedBytes).toBe(10);
    expect(ring.read().byteLength).toBe(0);
  });

  it("resets its counters on clear", () => {
    const ring = new OutputRing(4);
    ring.write(new TextEncoder().encode("abcdefgh"));
    expect(ring.droppedBytes).toBe(4);
    ring.clear();
    expect([ring.size, ring.totalBytes, ring.droppedBytes]).toEqual([0, 0, 0]);
    ring.write(new TextEncoder().encode("xy"));
    expect(ring.text()).toBe("xy");
  });

  it("decodes a character cut at the ring's edge as a replacement character", () => {
    const ring = new OutputRing(5);
    ring.write(new TextEncoder().encode("a€bcd")); // € is three bytes; one is cut off.
    expect(ring.text()).toBe("\uFFFD\uFFFDbcd");
  });

  it("allocates far less than its capacity for a little output", () => {
    const line = new TextEncoder().encode("started\n");
    const before = process.memoryUsage().arrayBuffers;
    const rings = Array.from({ length: 1000 }, () => new OutputRing(1024 * 1024));
    for (const ring of rings) ring.write(line);
    const grown = process.memoryUsage().arrayBuffers - before;
    // Eager allocation would be 1000 MiB; lazy growth from 4 KiB is about 4 MiB.
    expect(grown).toBeLessThan(64 * 1024 * 1024);
    expect(rings.every((ring) => ring.text() === "started\n")).toBe(true);
  });

  it.each([-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])("refuses a capacity of %s", (capacity) => {
    expect(() => new OutputRing(capacity)).toThrow(WasmatrixError);
  });

  it("keeps every ring of a node within the node's budget, the newest bytes of each, and counts the rest", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 40_000 }),
        fc.array(fc.tuple(fc.nat({ max: 3 }), stepArb), { maxLength: 80 }),
        (budgetBytes, steps) => {
          const budget = new OutputBudget(budgetBytes);
          const rings = Array.from({ length: 4 }, () => new OutputRing(12_000, budget));
          const written = [0, 0, 0, 0];
          for (const [i, step] of steps) {
            const ring = rings[i]!;
            if (step.kind === "write") {
              const before = ring.read();
              ring.write(step.bytes);
              written[i]! += step.bytes.byteLength;
              // Whatever size the budget allowed, what is kept is the tail of what was written.
              const all = new Uint8Array([...before, ...step.bytes]);
              expect(ring.read()).toEqual(all.subarray(all.byteLength - ring.size));
            } else if (step.kind === "clear") {
              ring.release();
              written[i] = 0;
            }
            expect(ring.totalBytes).toBe(written[i]);
            expect(budget.usedBytes).toBeLessThanOrEqual(budgetBytes);
          }
          for (const ring of rings) ring.release();
          expect(budget.usedBytes).toBe(0);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("counts bytes dropped upstream as dropped", () => {
    const ring = new OutputRing(16);
    ring.countDropped(1000);
    ring.write(new TextEncoder().encode("tail"));
    expect([ring.size, ring.droppedBytes, ring.totalBytes]).toEqual([4, 1000, 1004]);
  });
});

import { WasmatrixError } from "@wasmatrix/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ModuleCache } from "./index.js";

const RUNS = 300;

type Op =
  | { op: "get" | "has" | "peek" | "delete"; key: string }
  | { op: "set"; key: string; size: number }
  | { op: "clear" };

const keyArb = fc.constantFrom("a", "b", "c", "d", "e", "f");
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant("get" as const), key: keyArb }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant("set" as const), key: keyArb, size: fc.nat(60) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constantFrom("has" as const, "peek" as const), key: keyArb }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("delete" as const), key: keyArb }) },
  { weight: 1, arbitrary: fc.constant({ op: "clear" as const }) },
);

/** The specification, written the slow and obvious way: an array in recency order. */
class Model {
  order: { key: string; value: number; size: number }[] = [];
  hits = 0;
  misses = 0;
  evictions = 0;
  constructor(
    readonly maxEntries: number,
    readonly maxBytes: number,
  ) {}
  private remove(key: string) {
    const index = this.order.findIndex((entry) => entry.key === key);
    return index < 0 ? undefined : this.order.splice(index, 1)[0];
  }
  get(key: string): number | undefined {
    const entry = this.remove(key);
    if (entry === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.order.push(entry);
    return entry.value;
  }
  set(key: string, value: number, size: number) {
    this.remove(key);
    // Stated by the contract: an entry that could never fit is refused rather than emptying the cache.
    if (size > this.maxBytes) {
      this.evictions++;
      return;
    }
    this.order.push({ key, value, size });
    while (this.order.length > this.maxEntries || this.bytes > this.maxBytes) {
      this.order.shift();
      this.evictions++;
    }
  }
  delete(key: string): boolean {
    return this.remove(key) !== undefined;
  }
  get bytes(): number {
    return this.order.reduce((sum, entry) => sum + entry.size, 0);
  }
}

describe("ModuleCache", () => {
  it("matches a least-recently-used model and always holds both bounds", () => {
    fc.assert(
      fc.property(fc.nat(5), fc.nat(120), fc.array(opArb, { maxLength: 80 }), (maxEntries, maxBytes, ops) => {
        const cache = new ModuleCache<number>({ maxEntries, maxBytes });
        const model = new Model(maxEntries, maxBytes);
        let gets = 0;
        let value = 0;
        for (const step of ops) {
          switch (step.op) {
            case "get":
              gets++;
              expect(cache.get(step.key)).toBe(model.get(step.key));
              break;
            case "set":
              value++;
              cache.set(step.key, value, step.size);
              model.set(step.key, value, step.size);
              break;
            case "has":
              expect(cache.has(step.key)).toBe(model.order.some((entry) => entry.key === step.key));
              break;
            case "peek":
              expect(cache.peek(step.key)).toBe(model.order.find((entry) => entry.key === step.key)?.value);
              break;
            case "delete":
              expect(cache.delete(step.key)).toBe(model.delete(step.key));
              break;
            case "clear":
              cache.clear();
              model.order = [];
              break;
          }
          const stats = cache.stats;
          expect(cache.keys()).toEqual(model.order.map((entry) => entry.key));
          expect(stats).toEqual({
            hits: model.hits,
            misses: model.misses,
            evictions: model.evictions,
            entries: model.order.length,
            bytes: model.bytes,
          });
          expect(stats.entries).toBeLessThanOrEqual(maxEntries);
          expect(stats.bytes).toBeLessThanOrEqual(maxBytes);
          expect(stats.hits + stats.misses).toBe(gets);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it("evicts the least recently used entry, where a get counts as use", () => {
    const cache = new ModuleCache<string>({ maxEntries: 2, maxBytes: 1000 });
    cache.set("a", "A", 1);
    cache.set("b", "B", 1);
    cache.get("a");
    cache.set("c", "C", 1);
    expect(cache.keys()).toEqual(["a", "c"]);
    expect(cache.stats.evictions).toBe(1);
  });

  it("neither counts nor reorders on has and peek", () => {
    const cache = new ModuleCache<string>({ maxEntries: 2, maxBytes: 1000 });
    cache.set("a", "A", 1);
    cache.set("b", "B", 1);
    expect(cache.has("a")).toBe(true);
    expect(cache.peek("a")).toBe("A");
    cache.set("c", "C", 1);
    expect(cache.has("a")).toBe(false);
    expect(cache.stats).toMatchObject({ hits: 0, misses: 0 });
  });

  it("refuses an entry larger than maxBytes without evicting the others", () => {
    const cache = new ModuleCache<string>({ maxEntries: 10, maxBytes: 100 });
    cache.set("small", "s", 40);
    cache.set("huge", "h", 101);
    expect(cache.keys()).toEqual(["small"]);
    expect(cache.stats).toMatchObject({ evictions: 1, entries: 1, bytes: 40 });
  });

  it("evicts by bytes until the new entry fits", () => {
    const cache = new ModuleCache<string>({ maxEntries: 10, maxBytes: 100 });
    cache.set("a", "A", 40);
    cache.set("b", "B", 40);
    cache.set("c", "C", 50);
    expect(cache.keys()).toEqual(["b", "c"]);
    expect(cache.stats).toMatchObject({ evictions: 1, bytes: 90 });
  });

  it("replaces an entry's value and size on a second set", () => {
    const cache = new ModuleCache<string>({ maxEntries: 10, maxBytes: 100 });
    cache.set("a", "old", 10);
    cache.set("a", "new", 30);
    expect(cache.peek("a")).toBe("new");
    expect(cache.stats).toMatchObject({ entries: 1, bytes: 30, evictions: 0 });
  });

  it.each([
    { maxEntries: -1, maxBytes: 1 },
    { maxEntries: 1, maxBytes: Number.NaN },
    { maxEntries: 1.5, maxBytes: 1 },
  ])("refuses bounds %o", (options) => {
    expect(() => new ModuleCache(options)).toThrow(WasmatrixError);
  });

  it("refuses a negative or fractional entry size", () => {
    const cache = new ModuleCache<string>({ maxEntries: 1, maxBytes: Number.POSITIVE_INFINITY });
    expect(() => cache.set("a", "A", -1)).toThrow(WasmatrixError);
    expect(() => cache.set("a", "A", 0.5)).toThrow(WasmatrixError);
  });
});

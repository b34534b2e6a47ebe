import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { OutputBudget } from "@wasmatrix/runtime";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LogBuffer, MAX_LINE_BYTES } from "./logs.js";

const encoder = new TextEncoder();
const MiB = 1024 * 1024;

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

/** Heap and external memory: Node decodes Latin-1 text into external strings, off the V8 heap. */
function memoryAfterGc(): number {
  gc();
  gc();
  const { heapUsed, external } = process.memoryUsage();
  return heapUsed + external;
}

const chunkArb = fc.oneof(
  fc.string({ unit: "grapheme", maxLength: 200 }).map((s) => encoder.encode(s)),
  fc.uint8Array({ maxLength: 20_000 }),
  fc.integer({ min: 1, max: 40_000 }).map((n) => encoder.encode(`${"y".repeat(n)}\n`)),
);

describe("LogBuffer", () => {
  it("splits lines across writes, cut at MAX_LINE_BYTES with a mark", () => {
    const logs = new LogBuffer("i", { lines: 10, maxBytes: MiB });
    logs.write("stdout", encoder.encode("hel"));
    logs.write("stdout", encoder.encode("lo\nwor"));
    logs.write("stderr", encoder.encode("apart\n"));
    logs.write("stdout", encoder.encode(`ld\n${"z".repeat(MAX_LINE_BYTES + 5)}\n`));
    logs.flush();
    expect(logs.read().map((l) => [l.stream, l.text.length > 20 ? l.text.length : l.text])).toEqual([
      ["stdout", "hello"],
      ["stderr", "apart"],
      ["stdout", "world"],
      ["stdout", MAX_LINE_BYTES + 1],
    ]);
  });

  it("says how many bytes the runtime dropped, where they were dropped", () => {
    const logs = new LogBuffer("i", { lines: 10, maxBytes: MiB });
    logs.write("stdout", encoder.encode("before\npartial"));
    logs.write("stdout", encoder.encode("tail\n"), 104_857_600);
    logs.write("stdout", encoder.encode("more\n"), 5);
    expect(logs.read().map((l) => l.text)).toEqual([
      "before",
      "partial",
      "[wasmatrix: 104857600 bytes of stdout dropped, over the output cap]",
      "tail",
      "[wasmatrix: 5 bytes of stdout dropped, over the output cap]",
      "more",
      "[wasmatrix: 104857605 bytes of stdout dropped in all, over the output cap]",
    ]);
    // The total stays readable after the markers themselves have been pushed out.
    for (let i = 0; i < 20; i++) logs.write("stdout", encoder.encode(`line ${i}\n`));
    expect(logs.read(1).map((l) => l.text)).toEqual([
      "line 19",
      "[wasmatrix: 104857605 bytes of stdout dropped in all, over the output cap]",
    ]);
  });

  it("never keeps more than its byte cap, whatever is written", () => {
    fc.assert(
      fc.property(
        fc.array(chunkArb, { maxLength: 40 }),
        fc.integer({ min: 200, max: 100_000 }),
        (chunks, maxBytes) => {
          const logs = new LogBuffer("i", { lines: 1_000, maxBytes });
          for (const chunk of chunks) {
            logs.write("stdout", chunk);
            expect(logs.sizeBytes).toBeLessThanOrEqual(maxBytes);
          }
          const kept = logs.read().reduce((sum, l) => sum + l.text.length * 2, 0);
          expect(kept).toBeLessThanOrEqual(maxBytes);
        },
      ),
      { numRuns: 100 },
    );
  });

  it("keeps the node's instances together within the node's budget, and gives it back on release", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat({ max: 4 }), chunkArb), { maxLength: 60 }),
        fc.integer({ min: 0, max: 60_000 }),
        (writes, budgetBytes) => {
          const budget = new OutputBudget(budgetBytes);
          const buffers = Array.from(
            { length: 5 },
            (_, i) => new LogBuffer(`i${i}`, { lines: 500, maxBytes: 40_000, budget }),
          );
          for (const [i, chunk] of writes) {
            buffers[i]!.write("stderr", chunk);
            const held = buffers.reduce((sum, b) => sum + b.sizeBytes, 0);
            expect(held).toBe(budget.usedBytes);
            expect(held).toBeLessThanOrEqual(budgetBytes);
          }
          for (const b of buffers) b.release();
          expect(budget.usedBytes).toBe(0);
        },
      ),
      { numRuns: 100 },
    );
  });

  it("keeps lines as copies, not as views that pin the chunk they were cut from", () => {
    // One 1 MiB line per write: a line kept as a substring of the decoded chunk would hold all
    // of it (the old buffer grew by ~300 MiB here); a copy holds MAX_LINE_BYTES.
    const logs = new LogBuffer("i", { lines: 1_000, maxBytes: 64 * MiB });
    const line = encoder.encode(`${"x".repeat(MiB - 1)}\n`);
    const before = memoryAfterGc();
    for (let i = 0; i < 300; i++) logs.write("stdout", line);
    const grown = memoryAfterGc() - before;
    expect(logs.read()).toHaveLength(300);
    expect(grown).toBeLessThan(40 * MiB);
  });
});

describe("LogBuffer runs and filters", () => {
  it("tags each line with the run that wrote it", () => {
    const logs = new LogBuffer("i", { lines: 10, maxBytes: MiB });
    logs.write("stdout", encoder.encode("first\n"));
    logs.run = 2;
    logs.write("stdout", encoder.encode("second\n"));
    expect(logs.read().map((l) => [l.run, l.text])).toEqual([
      [1, "first"],
      [2, "second"],
    ]);
  });

  it("returns exactly the retained lines that match run, since and grep, tail counted after filtering", () => {
    const line = fc.record({
      run: fc.integer({ min: 1, max: 4 }),
      at: fc.integer({ min: 0, max: 100 }),
      text: fc.constantFrom("ok", "timeout here", "x", "another timeout"),
    });
    fc.assert(
      fc.property(
        fc.array(line, { maxLength: 40 }),
        fc.integer({ min: 0, max: 4 }),
        fc.integer({ min: 0, max: 100 }),
        fc.constantFrom("", "timeout", "x"),
        fc.integer({ min: 0, max: 10 }),
        (lines, run, sinceMs, grep, tail) => {
          let now = 0;
          const logs = new LogBuffer("i", { lines: 25, maxBytes: MiB, now: () => now });
          const sorted = [...lines].sort((a, b) => a.at - b.at);
          for (const l of sorted) {
            logs.run = l.run;
            now = l.at;
            logs.write("stdout", encoder.encode(`${l.text}\n`));
          }
          const kept = sorted.slice(-25);
          const expected = kept.filter(
            (l) => (run === 0 || l.run === run) && l.at >= sinceMs && (grep === "" || l.text.includes(grep)),
          );
          const got = logs.read(tail, { run, sinceMs, grep });
          const want = tail > 0 ? expected.slice(-tail) : expected;
          expect(got.map((l) => [l.run, l.at, l.text])).toEqual(want.map((l) => [l.run, l.at, l.text]));
        },
      ),
    );
  });
});

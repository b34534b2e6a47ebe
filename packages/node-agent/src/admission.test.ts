import { ErrorCode, WasmatrixError } from "@wasmatrix/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Admission, resolveAdmission } from "./admission.js";

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe("an instance's admission gate", () => {
  it("never runs more than maxConcurrency, never queues more than queueDepth, and refuses the rest", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 6 }),
        fc.integer({ min: 0, max: 20 }),
        async (max, depth, n) => {
          const gate = new Admission("i", { maxConcurrency: max, queueDepth: depth });
          const release = deferred();
          let running = 0;
          let peak = 0;
          const results = Array.from({ length: n }, () =>
            gate
              .run(async () => {
                running++;
                peak = Math.max(peak, running);
                await release.promise;
                running--;
                return "ran";
              })
              .catch((e: unknown) => (WasmatrixError.is(e) ? e.code : "other")),
          );
          expect(gate.active).toBe(Math.min(n, max));
          expect(gate.queued).toBe(Math.max(0, Math.min(n - max, depth)));
          release.resolve();
          const outcomes = await Promise.all(results);
          expect(peak).toBeLessThanOrEqual(max);
          expect(outcomes.filter((o) => o === "ran").length).toBe(Math.min(n, max + depth));
          expect(outcomes.filter((o) => o === ErrorCode.RESOURCE_EXHAUSTED).length).toBe(
            Math.max(0, n - max - depth),
          );
          expect(gate.active).toBe(0);
          expect(gate.queued).toBe(0);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("drops a queued call whose caller went away without running it", async () => {
    const gate = new Admission("i", { maxConcurrency: 1, queueDepth: 4 });
    const first = deferred();
    const ran: string[] = [];
    const a = gate.run(async () => {
      ran.push("a");
      await first.promise;
    });
    const abort = new AbortController();
    const b = gate.run(async () => {
      ran.push("b");
    }, abort.signal);
    const c = gate.run(async () => {
      ran.push("c");
    });
    expect(gate.queued).toBe(2);
    abort.abort();
    await expect(b).rejects.toMatchObject({
      code: ErrorCode.FAILED_PRECONDITION,
      details: { reason: "caller_gone" },
    });
    expect(gate.queued).toBe(1);
    first.resolve();
    await Promise.all([a, c]);
    expect(ran).toEqual(["a", "c"]);
  });

  it("tells a refused caller when to retry", async () => {
    const gate = new Admission("busy", { maxConcurrency: 1, queueDepth: 0 });
    const hold = deferred();
    const running = gate.run(() => hold.promise);
    const refused = await gate.run(async () => undefined).catch((e: WasmatrixError) => e);
    expect(refused).toMatchObject({ code: ErrorCode.RESOURCE_EXHAUSTED, details: { instanceId: "busy" } });
    expect((refused as WasmatrixError).details["retryAfterMs"]).toBeGreaterThan(0);
    hold.resolve();
    await running;
  });

  it("refuses limits out of range", () => {
    expect(() => resolveAdmission({ maxConcurrency: 0 })).toThrow(/maxConcurrency/);
    expect(() => resolveAdmission({ queueDepth: -1 })).toThrow(/queueDepth/);
    expect(resolveAdmission({})).toEqual({ maxConcurrency: 4, queueDepth: 64 });
  });
});

import { WasmatrixError } from "@wasmatrix/core";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Runtime, type RuntimeInstance } from "./runtime.js";
import { REACTOR_WAT } from "./test-support/fixtures.js";
import { wat } from "./test-support/wat.js";

/**
 * Whatever bytes arrive, the host survives: they are refused with a WasmatrixError, or they run
 * within their limits and end with an outcome. A neighbour on the same worker answers after each.
 */
describe("hostile module bytes", () => {
  let runtime: Runtime;
  let valid: Uint8Array;
  let neighbour: RuntimeInstance;
  let counter = 0;

  beforeAll(async () => {
    runtime = new Runtime({ workers: 1 });
    valid = await wat(REACTOR_WAT);
    neighbour = await runtime.instantiate(await runtime.compile(valid), { instanceId: "neighbour" });
  });
  afterAll(() => runtime.close());

  async function survive(bytes: Uint8Array): Promise<void> {
    try {
      const compiled = await runtime.compile(bytes);
      const instance = await runtime.instantiate(compiled, {
        instanceId: `fuzz-${counter++}`,
        limits: { fuel: 1_000_000, invokeTimeoutMs: 500, runTimeoutMs: 500, maxMemoryBytes: 8 * 1024 * 1024 },
        dedicatedWorker: false,
      });
      try {
        const outcome =
          instance.kind === "reactor"
            ? (await instance.invoke("echo", new Uint8Array([1, 2, 3]))).outcome
            : await instance.run();
        expect(["ok", "crashed"]).toContain(outcome.status);
      } finally {
        await instance.dispose();
      }
    } catch (error) {
      // Refusals are WasmatrixErrors with a code; anything else escaping would be a host bug.
      expect(WasmatrixError.is(error)).toBe(true);
    }
    const answer = await neighbour.invoke("echo", new Uint8Array([42]));
    expect(answer.response).toEqual(new Uint8Array([42]));
  }

  it("refuses or safely runs random byte strings", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 256 }), async (bytes) => survive(bytes)),
      { numRuns: 100 },
    );
  });

  it("refuses or safely runs random mutations of a valid module", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
        fc.option(fc.nat(), { nil: undefined }),
        async (edits, cut) => {
          const bytes = valid.slice(0, cut === undefined ? valid.length : 8 + (cut % valid.length));
          for (const [at, value] of edits) bytes[at % bytes.length] = value;
          await survive(bytes);
        },
      ),
      { numRuns: 200 },
    );
  }, 60_000);
});

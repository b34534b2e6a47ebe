import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { ErrorCode, WasmatrixError } from "@wasmatrix/core";
import { afterAll, describe, expect, it } from "vitest";
import { DEFAULT_MAX_INSTANCES, MAX_WASM_MEMORIES_PER_PROCESS, RUNTIME_PROCESSES } from "./capacity.js";
import { Runtime } from "./runtime.js";
import { REACTOR_WAT } from "./test-support/fixtures.js";
import { wat } from "./test-support/wat.js";

const run = promisify(execFile);
/**
 * Address space for the child of the reservation test: room for Node, tsx, a worker and a few
 * 10 GiB Wasm reservations, so the engine refuses after a handful of instances.
 */
const CHILD_ADDRESS_SPACE_KB = 120_000_000;
const script = fileURLToPath(new URL("./test-support/reserve-until-refused.ts", import.meta.url));

describe("runtime capacity", () => {
  const runtime = new Runtime({ workers: 1, maxInstances: 2 });
  afterAll(() => runtime.close());

  it("holds the memories of one process times its processes by default", () => {
    expect(DEFAULT_MAX_INSTANCES).toBe(MAX_WASM_MEMORIES_PER_PROCESS * RUNTIME_PROCESSES);
    expect(new Runtime().capacity).toBe(DEFAULT_MAX_INSTANCES);
  });

  it("refuses an instance past maxInstances with RESOURCE_EXHAUSTED and takes one again after a dispose", async () => {
    const reactor = await runtime.compile(await wat(REACTOR_WAT));
    const first = await runtime.instantiate(reactor, { instanceId: "a" });
    await runtime.instantiate(reactor, { instanceId: "b" });
    const error = await runtime.instantiate(reactor, { instanceId: "c" }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(WasmatrixError.is(error)).toBe(true);
    expect(error).toMatchObject({
      code: ErrorCode.RESOURCE_EXHAUSTED,
      details: { reason: "capacity", maxInstances: 2, running: 2 },
    });
    expect((error as Error).message).toMatch(/this runtime is full.*at most 2.*another node/);
    expect(runtime.get("c")).toBeUndefined();
    await first.dispose();
    expect((await runtime.instantiate(reactor, { instanceId: "c" })).id).toBe("c");
  });

  it("refuses an impossible maxInstances", () => {
    for (const bad of [0, -3, 2.5, Number.NaN]) {
      expect(() => new Runtime({ maxInstances: bad })).toThrow(/maxInstances must be a positive integer/);
    }
  });

  it.skipIf(process.platform !== "linux")(
    "fails only the start whose memory the engine cannot reserve, and its neighbours keep answering (a child under ulimit -v)",
    async () => {
      const { stdout } = await run(
        "bash",
        [
          "-c",
          `ulimit -v ${CHILD_ADDRESS_SPACE_KB} && exec "$0" --import tsx "$1"`,
          process.execPath,
          script,
        ],
        { cwd: fileURLToPath(new URL("../../../", import.meta.url)), timeout: 60_000 },
      );
      const seen = JSON.parse(stdout.trim().split("\n").at(-1)!) as {
        loaded: number;
        refusal: { code: string; reason: string; message: string } | null;
        neighbours: string[];
        again: { ok: boolean; echo?: string };
        inRuntime: number;
      };
      expect(seen.loaded).toBeGreaterThan(0);
      expect(seen.refusal).toMatchObject({
        code: ErrorCode.RESOURCE_EXHAUSTED,
        reason: "memory_reservation",
      });
      expect(seen.refusal?.message).toMatch(/another node.*runtime shards.*fewer instances/);
      expect(seen.neighbours).toEqual(Array(seen.loaded).fill("hi"));
      // One unloaded, one started again: the worker survived the refusal.
      expect(seen.again).toEqual({ ok: true, echo: "hi" });
      expect(seen.inRuntime).toBe(seen.loaded);
    },
    90_000,
  );
});

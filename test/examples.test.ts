import { existsSync, readFileSync } from "node:fs";
import { Runtime, type RuntimeInstance } from "@wasmatrix/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * The example guests from examples/ (C and WAT, built by `npm run build:examples`) run through the
 * real runtime: each misbehaving one is stopped with the right reason within its limit, on the
 * same worker as a well-behaved reactor that keeps answering.
 */
const build = new URL("../examples/build/", import.meta.url);
const path = (name: string) => new URL(`${name}.wasm`, build);
const built = existsSync(path("echo_reactor")) && existsSync(path("spin"));
const decoder = new TextDecoder();

describe.skipIf(!built)("example guests", () => {
  let runtime: Runtime;
  let neighbour: RuntimeInstance;

  beforeAll(async () => {
    // One worker: every instance below shares the thread with the neighbour.
    runtime = new Runtime({ workers: 1 });
    neighbour = await runtime.instantiate(await runtime.compile(readFileSync(path("echo_reactor"))), {
      instanceId: "neighbour",
    });
  });
  afterAll(() => runtime.close());

  async function expectNeighbourAnswers(): Promise<void> {
    const result = await neighbour.invoke("upper", new TextEncoder().encode("still here"));
    expect(decoder.decode(result.response)).toBe("STILL HERE");
  }

  const FUEL = 50_000_000;
  const TIMEOUT_MS = 300;
  const MEMORY = 16 * 1024 * 1024;
  const cases = [
    { guest: "spin", limits: { fuel: FUEL }, reason: "fuel_exhausted" },
    { guest: "loop", limits: { fuel: FUEL }, reason: "fuel_exhausted" },
    { guest: "spin", limits: { fuel: 1e15, runTimeoutMs: TIMEOUT_MS }, reason: "timeout" },
    { guest: "memory_bomb", limits: { maxMemoryBytes: MEMORY }, reason: "memory_limit" },
    { guest: "trap", limits: {}, reason: "unreachable" },
    { guest: "trap_wat", limits: {}, reason: "unreachable" },
    { guest: "recursion", limits: { fuel: 1e15 }, reason: "stack_overflow" },
    { guest: "recursion_wat", limits: { fuel: 1e15 }, reason: "stack_overflow" },
  ] as const;

  for (const { guest, limits, reason } of cases) {
    it(`stops ${guest} with ${reason} within its limit while the neighbour keeps answering`, async () => {
      const compiled = await runtime.compile(readFileSync(path(guest)));
      const instance = await runtime.instantiate(compiled, {
        instanceId: `${guest}-${reason}`,
        limits,
        dedicatedWorker: false,
      });
      const outcome = await instance.run();
      expect(outcome).toMatchObject({ status: "crashed", reason });
      const { metering } = outcome;
      if (reason === "fuel_exhausted") {
        expect(metering.fuelUsed).toBeGreaterThan(FUEL);
        // Overshoot is bounded by one block's cost plus the refill granularity.
        expect(metering.fuelUsed).toBeLessThan(FUEL * 1.05);
      }
      if (reason === "timeout") expect(metering.wallTimeMs).toBeGreaterThanOrEqual(TIMEOUT_MS);
      if (reason === "memory_limit") expect(metering.peakMemoryBytes).toBeLessThanOrEqual(MEMORY);
      await instance.dispose();
      await expectNeighbourAnswers();
    });
  }

  it("grows memory up to the cap, sees -1 from memory.grow and ends normally", async () => {
    const compiled = await runtime.compile(readFileSync(path("grow")));
    const instance = await runtime.instantiate(compiled, {
      instanceId: "grow",
      limits: { maxMemoryBytes: 4 * 1024 * 1024 },
      dedicatedWorker: false,
    });
    const outcome = await instance.run();
    expect(outcome.status).toBe("ok");
    expect(instance.stdout.text()).toContain("64 pages total");
    await instance.dispose();
  });

  it("runs the C hello with arguments, environment and exit code", async () => {
    const compiled = await runtime.compile(readFileSync(path("hello")));
    const instance = await runtime.instantiate(compiled, {
      instanceId: "hello",
      args: ["hello.wasm", "Ada", "7"],
      env: { GREETING: "hi" },
    });
    const outcome = await instance.run();
    expect(outcome).toMatchObject({ status: "crashed", reason: "exit", exitCode: 7 });
    expect(instance.stdout.text()).toContain("Ada");
    expect(instance.stdout.text()).toContain("hi");
    await instance.dispose();
  });

  it("uses the same fuel for the same guest and input on every run", async () => {
    const compiled = await runtime.compile(readFileSync(path("echo_reactor")));
    const used: number[] = [];
    for (let i = 0; i < 3; i++) {
      const instance = await runtime.instantiate(compiled, { instanceId: `det-${i}` });
      const result = await instance.invoke("upper", new TextEncoder().encode("determinism"));
      used.push(result.outcome.metering.fuelUsed);
      await instance.dispose();
    }
    expect(new Set(used).size).toBe(1);
    expect(used[0]).toBeGreaterThan(0);
  });
});

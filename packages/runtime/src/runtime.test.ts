import { ErrorCode, WasmatrixError } from "@wasmatrix/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Outcome } from "./outcome.js";
import { type CompiledModule, Runtime } from "./runtime.js";
import { HELLO_COMMAND_WAT, LOOP_COMMAND_WAT, REACTOR_WAT } from "./test-support/fixtures.js";
import { wat } from "./test-support/wat.js";

const text = (bytes: Uint8Array | undefined) => new TextDecoder().decode(bytes);
const bytes = (s: string) => new TextEncoder().encode(s);

function crashReason(outcome: Outcome): string {
  return outcome.status === "crashed" ? outcome.reason : "ok";
}

describe("runtime", () => {
  const hostCalls: string[] = [];
  const runtime = new Runtime({
    workers: 1,
    hostCallRouter: {
      async call(instanceId, request) {
        hostCalls.push(`${instanceId}:${request.namespace}:${request.operation}`);
        if (request.namespace === "test:deny") {
          throw new WasmatrixError(ErrorCode.PERMISSION_DENIED, "denied by the test router");
        }
        await new Promise((resolve) => setTimeout(resolve, 1));
        return bytes(`answer from ${request.namespace}`);
      },
    },
  });
  let reactor: CompiledModule;

  beforeAll(async () => {
    reactor = await runtime.compile(await wat(REACTOR_WAT));
  });
  afterAll(() => runtime.close());

  it("invokes a reactor and returns its response", async () => {
    const instance = await runtime.instantiate(reactor, { instanceId: "echo-1" });
    const result = await instance.invoke("echo", bytes("hello"));
    expect(result.outcome.status).toBe("ok");
    expect(text(result.response)).toBe("hello");
    await instance.dispose();
  });

  it("hands a guest error back without crashing the instance", async () => {
    const instance = await runtime.instantiate(reactor, { instanceId: "fail-1" });
    const result = await instance.invoke("fail", bytes("bad input"));
    expect(result.outcome.status).toBe("ok");
    expect(result.guestError).toBe("bad input");
    expect(text((await instance.invoke("echo", bytes("still here"))).response)).toBe("still here");
    await instance.dispose();
  });

  it.each([
    ["loop", { fuel: 5_000_000 }, "fuel_exhausted"],
    ["loop", { invokeTimeoutMs: 200, fuel: 1e15 }, "timeout"],
    ["unreachable", {}, "unreachable"],
    ["oob", {}, "memory_out_of_bounds"],
    ["recurse", { fuel: 1e15 }, "stack_overflow"],
    ["grow", { maxMemoryBytes: 2 * 1024 * 1024 }, "memory_limit"],
  ] as const)(
    "stops a guest doing %s with %o as %s while a neighbour on the same worker keeps answering",
    async (operation, limits, reason) => {
      const bad = await runtime.instantiate(reactor, { instanceId: `bad-${operation}-${reason}`, limits });
      const good = await runtime.instantiate(reactor, { instanceId: `good-${operation}-${reason}` });
      const [badResult, goodResult] = await Promise.all([
        bad.invoke(operation, new Uint8Array(0)),
        good.invoke("echo", bytes("neighbour")),
      ]);
      expect(crashReason(badResult.outcome)).toBe(reason);
      expect(text(goodResult.response)).toBe("neighbour");
      // The crashed instance refuses further work; its neighbour still answers afterwards.
      await expect(bad.invoke("echo", bytes("x"))).rejects.toMatchObject({
        code: ErrorCode.FAILED_PRECONDITION,
      });
      expect(text((await good.invoke("echo", bytes("after"))).response)).toBe("after");
      if (reason === "fuel_exhausted") {
        expect(badResult.outcome.metering.fuelUsed).toBeGreaterThan(5_000_000);
        expect(badResult.outcome.metering.fuelUsed).toBeLessThan(5_000_000 + 1_000);
      }
      if (reason === "memory_limit") {
        expect(badResult.outcome.metering.peakMemoryBytes).toBeLessThanOrEqual(2 * 1024 * 1024);
      }
      await Promise.all([bad.dispose(), good.dispose()]);
    },
  );

  it("meters the same fuel for the same guest and input on every run", async () => {
    const used: number[] = [];
    for (let i = 0; i < 3; i++) {
      const instance = await runtime.instantiate(reactor, { instanceId: `sum-${i}` });
      for (let j = 0; j < 2; j++) {
        const result = await instance.invoke("sum", Uint8Array.of(50));
        expect(result.outcome.status).toBe("ok");
        used.push(result.outcome.metering.fuelUsed);
      }
      await instance.dispose();
    }
    expect(used[0]).toBeGreaterThan(50_000);
    expect(new Set(used).size).toBe(1);
  });

  it("routes host calls to the main-thread router and hands its errors to the guest", async () => {
    const instance = await runtime.instantiate(reactor, { instanceId: "host-1" });
    const ok = await instance.invoke("hostcall", bytes("test:ok"));
    expect(text(ok.response)).toBe("answer from test:ok");
    expect(ok.outcome.metering.hostCalls).toBe(1);
    const denied = await instance.invoke("hostcall", bytes("test:deny"));
    expect(denied.outcome.status).toBe("ok");
    expect(JSON.parse(denied.guestError!)).toMatchObject({ code: "PERMISSION_DENIED" });
    expect(hostCalls).toContain("host-1:test:ok:op");
    await instance.dispose();
  });

  it("serves the logging capability inside the worker", async () => {
    const instance = await runtime.instantiate(reactor, { instanceId: "log-1" });
    const before = hostCalls.length;
    const result = await instance.invoke("hostcall", bytes("wasmatrix:logging"));
    expect(result.outcome.status).toBe("ok");
    expect(hostCalls.length).toBe(before);
    expect(instance.stderr.text()).toContain("[info] op");
    await instance.dispose();
  });

  it("refuses host-call payloads over the cap with RESOURCE_EXHAUSTED to the guest", async () => {
    const instance = await runtime.instantiate(reactor, {
      instanceId: "cap-1",
      limits: { maxHostCallPayloadBytes: 64 * 1024 },
    });
    const result = await instance.invoke("Host", new Uint8Array(0));
    expect(result.outcome.status).toBe("ok");
    expect(JSON.parse(result.guestError!)).toMatchObject({ code: "RESOURCE_EXHAUSTED" });
    await instance.dispose();
  });

  it("refuses an invocation payload over the cap before the guest runs", async () => {
    const instance = await runtime.instantiate(reactor, {
      instanceId: "cap-2",
      limits: { maxHostCallPayloadBytes: 1024 },
    });
    await expect(instance.invoke("echo", new Uint8Array(2048))).rejects.toMatchObject({
      code: ErrorCode.RESOURCE_EXHAUSTED,
    });
    expect(text((await instance.invoke("echo", bytes("small"))).response)).toBe("small");
    await instance.dispose();
  });

  it("crashes an instance whose response exceeds the cap with host_error", async () => {
    const instance = await runtime.instantiate(reactor, {
      instanceId: "cap-3",
      limits: { maxHostCallPayloadBytes: 64 * 1024 },
    });
    const result = await instance.invoke("big", new Uint8Array(0));
    expect(crashReason(result.outcome)).toBe("host_error");
    await instance.dispose();
  });

  it("keeps only the newest output within the output cap", async () => {
    const instance = await runtime.instantiate(reactor, {
      instanceId: "out-1",
      limits: { maxOutputBytes: 1000 },
    });
    for (let i = 0; i < 10; i++) await instance.invoke("print", bytes(`${i}`.repeat(300)));
    expect(instance.stdout.read().byteLength).toBe(1000);
    expect(instance.stdout.text().endsWith("9".repeat(300))).toBe(true);
    await instance.dispose();
  });

  it("keeps linear memory between invocations of one instance and starts a new one fresh", async () => {
    const first = await runtime.instantiate(reactor, { instanceId: "count-1" });
    const counter = async (instance: typeof first) =>
      new DataView((await instance.invoke("counter", new Uint8Array(0))).response!.buffer).getInt32(0, true);
    expect(await counter(first)).toBe(1);
    expect(await counter(first)).toBe(2);
    await first.dispose();
    const second = await runtime.instantiate(reactor, { instanceId: "count-2" });
    expect(await counter(second)).toBe(1);
    await second.dispose();
  });

  it("runs a command with args and reports its exit code and output", async () => {
    const hello = await runtime.compile(await wat(HELLO_COMMAND_WAT));
    expect(hello.kinds).toEqual(["command"]);
    const instance = await runtime.instantiate(hello, {
      instanceId: "hello-1",
      args: ["hello.wasm", "alice"],
    });
    const outcome = await instance.run();
    expect(outcome).toMatchObject({ status: "crashed", reason: "exit", exitCode: 3 });
    expect(instance.stdout.text()).toBe("hello alice");
    await instance.dispose();
  });

  it("stops a runaway command at its deadline", async () => {
    const loop = await runtime.compile(await wat(LOOP_COMMAND_WAT));
    const instance = await runtime.instantiate(loop, {
      instanceId: "loop-cmd",
      limits: { runTimeoutMs: 100, fuel: 1e15 },
    });
    expect(crashReason(await instance.run())).toBe("timeout");
    await instance.dispose();
  });

  it("serves compiled modules from the cache by digest", async () => {
    const before = runtime.cacheStats.hits;
    const again = await runtime.compile(await wat(REACTOR_WAT));
    expect(again.cached).toBe(true);
    expect(again.digest).toBe(reactor.digest);
    expect(runtime.cacheStats.hits).toBe(before + 1);
  });

  it("refuses a module whose minimum memory exceeds the cap", async () => {
    await expect(
      runtime.instantiate(reactor, { instanceId: "too-big", limits: { maxMemoryBytes: 4 * 65536 } }),
    ).rejects.toMatchObject({ code: ErrorCode.RESOURCE_EXHAUSTED });
  });

  it("refuses duplicate instance ids", async () => {
    const instance = await runtime.instantiate(reactor, { instanceId: "dup" });
    await expect(runtime.instantiate(reactor, { instanceId: "dup" })).rejects.toMatchObject({
      code: ErrorCode.ALREADY_EXISTS,
    });
    await instance.dispose();
  });

  it.each([
    [new Uint8Array(0), "truncated"],
    [bytes("(module)\n"), "looks like text"],
    [Uint8Array.of(0, 0x61, 0x73, 0x6d, 2, 0, 0, 0), "unsupported binary version"],
    [Uint8Array.of(0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 5, 1), "does not validate"],
  ])("refuses malformed module %# with a clear INVALID_MODULE error", async (input, message) => {
    const error = await runtime.compile(input).catch((e: unknown) => e);
    expect(WasmatrixError.is(error)).toBe(true);
    expect((error as WasmatrixError).code).toBe(ErrorCode.INVALID_MODULE);
    expect((error as WasmatrixError).message).toContain(message);
  });

  it("refuses a module over the size cap with MODULE_TOO_LARGE", async () => {
    const small = new Runtime({ maxModuleBytes: 100 });
    await expect(small.compile(await wat(REACTOR_WAT))).rejects.toMatchObject({
      code: ErrorCode.MODULE_TOO_LARGE,
    });
    await small.close();
  });
});

describe("runtime watchdog", () => {
  it("terminates a worker stuck past its deadline and reports every instance on it as worker_lost", async () => {
    const runtime = new Runtime({ workers: 1, watchdogGraceMs: 300 });
    try {
      const reactor = await runtime.compile(await wat(REACTOR_WAT));
      const stuck = await runtime.instantiate(reactor, {
        instanceId: "stuck",
        limits: { invokeTimeoutMs: 200 },
      });
      const neighbour = await runtime.instantiate(reactor, { instanceId: "neighbour" });
      const lost: string[] = [];
      neighbour.onLost((outcome) => lost.push(crashReason(outcome)));
      const result = await stuck.invoke("memfill", new Uint8Array(0));
      expect(crashReason(result.outcome)).toBe("worker_lost");
      expect(lost).toEqual(["worker_lost"]);
      expect(crashReason((await neighbour.invoke("echo", bytes("x"))).outcome)).toBe("worker_lost");
      // The runtime replaces the worker: new instances run.
      const fresh = await runtime.instantiate(reactor, { instanceId: "fresh" });
      expect(text((await fresh.invoke("echo", bytes("alive"))).response)).toBe("alive");
    } finally {
      await runtime.close();
    }
  });
});

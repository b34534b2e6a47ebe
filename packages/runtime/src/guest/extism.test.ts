import { existsSync, readFileSync } from "node:fs";
import { ErrorCode, WasmatrixError } from "@wasmatrix/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Outcome } from "../outcome.js";
import { type CompiledModule, Runtime, type RuntimeInstance } from "../runtime.js";

/**
 * The Extism plugin of examples/extism/plugin.c (built by `npm run build:examples`), written
 * against the PDK ABI and run unchanged: calls, config, vars, errors, logging, http_request through
 * the host-call router, and its limits.
 */
const pluginPath = new URL("../../../../examples/build/extism_plugin.wasm", import.meta.url);
const built = existsSync(pluginPath);
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const text = (bytes: Uint8Array | undefined) => decoder.decode(bytes);

function crashReason(outcome: Outcome): string {
  return outcome.status === "crashed" ? outcome.reason : "ok";
}

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe.skipIf(!built)("Extism plugins", () => {
  const httpCalls: { instanceId: string; payload: unknown }[] = [];
  const runtime = new Runtime({
    workers: 1,
    hostCallRouter: {
      async call(instanceId, request) {
        if (request.namespace !== "wasmatrix:http") throw new Error(`unexpected ${request.namespace}`);
        const payload = JSON.parse(text(request.payload)) as { url: string };
        httpCalls.push({ instanceId, payload });
        if (!payload.url.startsWith("http://allowed.example/")) {
          throw new WasmatrixError(ErrorCode.PERMISSION_DENIED, `host of ${payload.url} is not allowed`);
        }
        return encoder.encode(JSON.stringify({ status: 201, headers: {}, body: `fetched ${payload.url}` }));
      },
    },
  });
  let plugin: CompiledModule;
  let neighbour: RuntimeInstance;
  let seq = 0;

  const start = (options: { config?: Record<string, string>; maxMemoryBytes?: number } = {}) =>
    runtime.instantiate(plugin, {
      instanceId: `plugin-${++seq}`,
      extism: { config: options.config ?? {} },
      ...(options.maxMemoryBytes === undefined ? {} : { limits: { maxMemoryBytes: options.maxMemoryBytes } }),
    });

  beforeAll(async () => {
    plugin = await runtime.compile(readFileSync(pluginPath));
    neighbour = await start();
  });
  afterAll(() => runtime.close());

  async function expectNeighbourAnswers(): Promise<void> {
    const result = await neighbour.invoke("greet", encoder.encode("neighbour"));
    expect(text(result.response)).toBe("Hello, neighbour!");
  }

  it("is recognised by its imports as an Extism plugin that runs as a reactor", () => {
    expect(plugin.abi).toBe("extism");
    expect(plugin.kinds).toEqual(["reactor"]);
  });

  it("calls an exported function with the input and returns its output", async () => {
    const result = await neighbour.invoke("greet", encoder.encode("wasmatrix"));
    expect(result.outcome.status).toBe("ok");
    expect(text(result.response)).toBe("Hello, wasmatrix!");
  });

  it("hands back inputs of every size byte for byte", async () => {
    for (const size of [0, 1, 7, 8, 9, 1000, 65_536]) {
      const input = Uint8Array.from({ length: size }, (_, i) => (i * 31 + size) & 0xff);
      const result = await neighbour.invoke("echo", input);
      expect(result.response).toEqual(input);
    }
  });

  it("reads the instance's config, and a missing key is the plugin's error", async () => {
    const instance = await start({ config: { greeting: "bonjour" } });
    expect(text((await instance.invoke("config", encoder.encode("greeting"))).response)).toBe("bonjour");
    const missing = await instance.invoke("config", encoder.encode("absent"));
    expect(missing.outcome.status).toBe("ok");
    expect(missing.guestError).toBe("no such config key");
    await instance.dispose();
  });

  it("keeps vars across calls, per instance", async () => {
    const a = await start();
    const b = await start();
    for (const expected of ["1", "2", "3"]) {
      expect(text((await a.invoke("count", new Uint8Array(0))).response)).toBe(expected);
    }
    expect(text((await b.invoke("count", new Uint8Array(0))).response)).toBe("1");
    await Promise.all([a.dispose(), b.dispose()]);
  });

  it("turns error_set and a non-zero return into an error the caller sees, and the plugin lives on", async () => {
    const failed = await neighbour.invoke("fail", new Uint8Array(0));
    expect(failed.outcome.status).toBe("ok");
    expect(failed.guestError).toBe("something went wrong");
    const code = await neighbour.invoke("fail_code", new Uint8Array(0));
    expect(code.guestError).toBe("plugin function returned 7");
    await expectNeighbourAnswers();
  });

  it("refuses to call a function the plugin does not export, naming those it does", async () => {
    await expect(neighbour.invoke("nope", new Uint8Array(0))).rejects.toMatchObject({
      code: ErrorCode.INVALID_REQUEST,
      message: expect.stringContaining("greet"),
    });
    await expect(neighbour.invoke("memory", new Uint8Array(0))).rejects.toMatchObject({
      code: ErrorCode.INVALID_REQUEST,
    });
  });

  it("writes the plugin's log lines, with their levels, to the instance's log", async () => {
    const instance = await start();
    const result = await instance.invoke("log", new Uint8Array(0));
    expect(text(result.response)).toBe("logged");
    await until(() => instance.stderr.text().includes("[debug] a debug line"));
    const log = instance.stderr.text();
    for (const line of ["[info] an info line", "[warn] a warning", "[error] an error line"]) {
      expect(log).toContain(line);
    }
    await instance.dispose();
  });

  it("sends http_request through the host-call router as wasmatrix:http, and a refusal fails only that call", async () => {
    const instance = await start();
    const allowed = await instance.invoke("http_get", encoder.encode("http://allowed.example/x"));
    expect(text(allowed.response)).toBe("201 fetched http://allowed.example/x");
    expect(httpCalls.at(-1)).toEqual({
      instanceId: instance.id,
      payload: { url: "http://allowed.example/x", method: "GET", headers: { "x-plugin": "wasmatrix-test" } },
    });
    expect(allowed.outcome.metering.hostCalls).toBe(1);
    const denied = await instance.invoke("http_get", encoder.encode("http://denied.example/"));
    expect(denied.outcome.status).toBe("ok");
    expect(denied.guestError).toMatch(/not allowed: PERMISSION_DENIED/);
    expect(text((await instance.invoke("greet", encoder.encode("after"))).response)).toBe("Hello, after!");
    await instance.dispose();
  });

  it("crashes a trapping plugin and leaves its neighbour on the same worker answering", async () => {
    const instance = await start();
    const result = await instance.invoke("crash", new Uint8Array(0));
    expect(crashReason(result.outcome)).toBe("unreachable");
    await expect(instance.invoke("greet", new Uint8Array(0))).rejects.toMatchObject({
      code: ErrorCode.FAILED_PRECONDITION,
    });
    await expectNeighbourAnswers();
    await instance.dispose();
  });

  it("stops an endless plugin function by fuel and by its deadline, and the neighbour answers", async () => {
    for (const [limits, reason] of [
      [{ fuel: 5_000_000 }, "fuel_exhausted"],
      [{ fuel: 1e15, invokeTimeoutMs: 300 }, "timeout"],
    ] as const) {
      const instance = await runtime.instantiate(plugin, { instanceId: `spin-${++seq}`, limits });
      const result = await instance.invoke("spin", new Uint8Array(0));
      expect(crashReason(result.outcome)).toBe(reason);
      await expectNeighbourAnswers();
      await instance.dispose();
    }
  });

  it("stops a plugin at its linear-memory cap with memory_limit", async () => {
    const instance = await start({ maxMemoryBytes: 4 * 1024 * 1024 });
    const result = await instance.invoke("grow", new Uint8Array(0));
    expect(crashReason(result.outcome)).toBe("memory_limit");
    expect(result.outcome.metering.peakMemoryBytes).toBeLessThanOrEqual(4 * 1024 * 1024);
    await expectNeighbourAnswers();
    await instance.dispose();
  });

  it("bounds the kernel's memory by the same cap: alloc answers 0 past it", async () => {
    const instance = await start({ maxMemoryBytes: 1024 * 1024 });
    const result = await instance.invoke("alloc_until_refused", encoder.encode("65536"));
    expect(result.outcome.status).toBe("ok");
    expect(result.guestError).toBe("kernel memory refused an allocation");
    // The next call starts with the kernel's memory empty again.
    expect(text((await instance.invoke("greet", encoder.encode("again"))).response)).toBe("Hello, again!");
    await instance.dispose();
  });

  it("crashes a plugin that reads kernel memory it never allocated", async () => {
    const instance = await start();
    const result = await instance.invoke("bad_load", new Uint8Array(0));
    expect(crashReason(result.outcome)).toBe("memory_out_of_bounds");
    await instance.dispose();
  });

  it("answers 100 000 calls on one instance without a reset", async () => {
    const instance = await start();
    const input = encoder.encode("x".repeat(64));
    let wrong = 0;
    const batch = 1000;
    for (let i = 0; i < 100_000; i += batch) {
      const results = await Promise.all(Array.from({ length: batch }, () => instance.invoke("echo", input)));
      for (const r of results) if (r.response?.byteLength !== 64) wrong++;
    }
    expect(wrong).toBe(0);
    expect(text((await instance.invoke("count", new Uint8Array(0))).response)).toBe("1");
    await instance.dispose();
  }, 120_000);
});

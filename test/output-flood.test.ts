import { readFileSync } from "node:fs";
import { invokeRequest, logsRequest, startRequest, type WasmatrixClient } from "@wasmatrix/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cluster, type Daemon, waitFor } from "./cluster/harness.js";

/**
 * Guests flooding their stdout beside a real node agent process: its memory stays bounded and a
 * neighbour keeps answering. Times are measured in bench/suites/output-flood.ts, not here.
 */

const build = new URL("../examples/build/", import.meta.url);
const echoReactor = readFileSync(new URL("echo_reactor.wasm", build));
const flood = readFileSync(new URL("flood.wasm", build));
const MiB = 1024 * 1024;
const TOTAL = /^\[wasmatrix: (\d+) bytes of stdout dropped in all/;

/** Resident set of a process, from /proc (the node agent is a child process of its own). */
function rssMiB(daemon: Daemon): number {
  const status = readFileSync(`/proc/${daemon.child.pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]) / 1024;
}

describe("a guest flooding its stdout", () => {
  const cluster = new Cluster();
  let client: WasmatrixClient;
  let node: Daemon;

  beforeAll(async () => {
    const cp = await cluster.controlPlane();
    node = await cluster.nodeAgent({ nodeId: "flooded", controlPlane: cp.address });
    client = cluster.client(cp.address, 30_000);
    await cluster.nodesAlive(client, ["flooded"]);
    await client.startInstance(startRequest({ instanceId: "neighbour", module: echoReactor }));
  });
  afterAll(() => cluster.close());

  it("costs the node bounded memory over five invocations writing 100 MB each, and its logs say how much was dropped", async () => {
    await client.startInstance(startRequest({ instanceId: "writer", module: echoReactor }));
    const before = rssMiB(node);
    const readings: number[] = [];
    for (let i = 0; i < 5; i++) {
      const result = await client.invoke(invokeRequest("writer", "flood", String(100 * MiB)));
      expect(result.outcome?.status).toBe("ok");
      expect(result.response.toString()).toBe(String(100 * MiB));
      readings.push(rssMiB(node));
    }
    // What is held back over the forwarding allowance arrives, counted, when its window turns.
    let logs: string[] = [];
    const total = async () => {
      logs = [];
      for await (const line of client.streamLogs(logsRequest("writer", { tail: 1 }))) {
        logs.push(line.text);
      }
      return Number(TOTAL.exec(logs.at(-1) ?? "")?.[1] ?? 0);
    };
    const dropped = await waitFor(
      "the count of dropped bytes to cover the five floods",
      async () => {
        const n = await total();
        return n > 5 * 100 * MiB * 0.9 ? n : undefined;
      },
      { timeoutMs: 5_000 },
    ).catch(() => 0);
    // Before: each invocation's 100 MB crossed to the main thread and into the log buffer, and
    // the node agent grew by ~1.1 GB. Now about 1 MiB a second crosses.
    expect(Math.max(...readings) - before, `RSS ${before} → ${readings.join(", ")} MiB`).toBeLessThan(160);
    expect(dropped, logs.join("\n")).toBeGreaterThan(5 * 100 * MiB * 0.9);
  });

  it("soak: a command writing stdout as fast as it can leaves node memory flat and a neighbour answering every call", async () => {
    await client.startInstance(startRequest({ instanceId: "flood", module: flood, limits: { fuel: 9e15 } }));
    const readings: number[] = [];
    let calls = 0;
    let failures = 0;
    const started = Date.now();
    let nextReading = started;
    while (Date.now() - started < 15_000) {
      const result = await client.invoke(invokeRequest("neighbour", "echo", "ping")).catch(() => null);
      calls++;
      if (result?.outcome?.status !== "ok" || result.response.toString() !== "ping") failures++;
      if (Date.now() >= nextReading) {
        readings.push(rssMiB(node));
        nextReading += 1_000;
      }
    }
    const view = await client.queryInstance({ instanceId: "flood", factLimit: 0 });
    expect(view.instance?.status).toBe("running");
    expect(failures).toBe(0);
    expect(calls).toBeGreaterThan(100);
    // Flat: after the first few seconds (JIT, worker start, buffers reaching their caps), the
    // node grows no more than the noise of its heaps resizing.
    const settled = readings[3]!;
    const peak = Math.max(...readings.slice(3));
    expect(peak - settled, `RSS ${readings.map((r) => r.toFixed(0)).join(" → ")} MiB`).toBeLessThan(64);
    expect(peak, `RSS ${readings.map((r) => r.toFixed(0)).join(" → ")} MiB`).toBeLessThan(512);
  });
});

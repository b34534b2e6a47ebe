import { availableParallelism } from "node:os";
import { invokeRequest, startRequest } from "@wasmatrix/client";
import { createEmbedded } from "@wasmatrix/embedded";
import { EXTISM_RESET_NOTE, ExtismEcho, extismPlugin } from "../extism.js";
import { echoReactor, extismEcho, RawWapc } from "../guests.js";
import { type Figure, type SuiteResult, targets } from "../report.js";
import {
  opsPerSecond,
  type Summary,
  sampleAsync,
  sampleSync,
  sampleThroughputInTurns,
  summarize,
} from "../stats.js";
import type { Suite, SuiteOptions } from "../suite.js";
import { stubImports } from "./runtime/instantiate.js";

const PAYLOAD = new TextEncoder().encode("0123456789abcdef");
const START_SAMPLES = 200;
const START_WARMUP = 20;
const IN_FLIGHT = 256;
const INVOKES_PER_ROUND = 50_000;
const WORKERS = Math.min(4, availableParallelism());

let nextId = 0;
const freshId = (prefix: string) => `${prefix}-${++nextId}`;

interface StartPath {
  start(instanceId: string): Promise<unknown>;
  /** Undoes the start, outside the timing. */
  stop(instanceId: string): Promise<unknown>;
}

/**
 * Start-to-running, one at a time, for several paths taken in turn (so drift in the machine's
 * speed, and the agent's growing table of ended instances, land on all of them alike).
 */
async function startLatencies<K extends string>(paths: Record<K, StartPath>): Promise<Record<K, Summary>> {
  const entries = Object.entries(paths) as [K, StartPath][];
  const times = new Map<K, number[]>(entries.map(([name]) => [name, []]));
  for (let i = 0; i < START_WARMUP + START_SAMPLES; i++) {
    for (const [name, path] of entries) {
      const instanceId = freshId("start");
      const started = performance.now();
      await path.start(instanceId);
      if (i >= START_WARMUP) times.get(name)!.push((performance.now() - started) * 1000);
      await path.stop(instanceId);
    }
  }
  return Object.fromEntries(entries.map(([name]) => [name, summarize(times.get(name)!)])) as Record<
    K,
    Summary
  >;
}

function checkEcho(response: {
  response: Uint8Array;
  guestError: string;
  outcome?: { status: string };
}): void {
  if (
    response.outcome?.status !== "ok" ||
    response.guestError !== "" ||
    response.response.byteLength !== PAYLOAD.byteLength
  ) {
    throw new Error(`echo through the embedded client failed: ${JSON.stringify(response.outcome)}`);
  }
}

/** Extism's best rate: plugins are not reentrant, so one plugin per worker thread, each kept busy. */
async function extismRate(
  module: WebAssembly.Module,
  plugins: number,
  runInWorker: boolean,
): Promise<Summary> {
  const pool: ExtismEcho[] = [];
  for (let i = 0; i < plugins; i++) pool.push(await ExtismEcho.create(module, runInWorker));
  try {
    const total = runInWorker ? 4000 : 40_000;
    const times: number[] = [];
    for (let round = 0; round < 4; round++) {
      let next = 0;
      const started = performance.now();
      await Promise.all(
        pool.map(async (plugin) => {
          while (next++ < total) await plugin.call(PAYLOAD);
        }),
      );
      if (round > 0) times.push(((performance.now() - started) * 1000) / total);
    }
    return summarize(times);
  } finally {
    await Promise.all(pool.map((p) => p.close()));
  }
}

async function run({ log }: SuiteOptions): Promise<SuiteResult> {
  const started = performance.now();
  const embedded = await createEmbedded({ node: { runtime: { workers: WORKERS } } });
  const figures: Figure[] = [];
  try {
    const bytes = await echoReactor();
    const compiled = await embedded.agent.runtime.compile(bytes);
    const moduleDigest = compiled.digest as string;
    const rawModule = await WebAssembly.compile(bytes as BufferSource);
    const extismModule = await WebAssembly.compile((await extismEcho()) as BufferSource);
    const module = Buffer.from(bytes);

    log("embedded: start latency");
    const stopAgent = (instanceId: string) => embedded.agent.stop(instanceId);
    const running = new Map<string, { dispose(): Promise<void> }>();
    const { viaAgent, viaClient, viaClientBytes, runtimeOnly } = await startLatencies({
      viaAgent: {
        start: (instanceId) => embedded.agent.start({ instanceId, moduleDigest }),
        stop: stopAgent,
      },
      viaClient: {
        start: (instanceId) => embedded.client.startInstance(startRequest({ instanceId, moduleDigest })),
        stop: stopAgent,
      },
      viaClientBytes: {
        start: (instanceId) => embedded.client.startInstance(startRequest({ instanceId, module })),
        stop: stopAgent,
      },
      runtimeOnly: {
        start: async (instanceId) =>
          running.set(instanceId, await embedded.agent.runtime.instantiate(compiled, { instanceId })),
        stop: async (instanceId) => {
          await running.get(instanceId)?.dispose();
          running.delete(instanceId);
        },
      },
    });
    const imports = stubImports(compiled.module);
    const raw = sampleSync(() => new WebAssembly.Instance(compiled.module, imports), {
      samples: 300,
      warmup: 30,
    });
    const extismStart = await sampleAsync(async () => (await extismPlugin(extismModule, false)).close(), {
      samples: 30,
      warmup: 3,
    });
    const startBaselines = [
      { label: "raw new WebAssembly.Instance", value: raw.median },
      { label: "Extism createPlugin (in-thread)", value: extismStart.median },
    ];
    figures.push(
      {
        name: "start to running, cached module: agent.start (in-process)",
        value: viaAgent.median,
        p99: viaAgent.p99,
        unit: "µs",
        baselines: [{ label: "runtime.instantiate alone", value: runtimeOnly.median }, ...startBaselines],
        target: targets.atMost(viaAgent.median, 1000, "µs"),
      },
      {
        name: "start to running, cached module: client.startInstance by digest (embedded control plane)",
        value: viaClient.median,
        p99: viaClient.p99,
        unit: "µs",
        baselines: startBaselines,
        target: targets.atMost(viaClient.median, 1000, "µs"),
      },
      {
        name: "start to running: client.startInstance with the module's bytes (cache hit)",
        value: viaClientBytes.median,
        p99: viaClientBytes.p99,
        unit: "µs",
        baselines: startBaselines,
      },
    );

    log("embedded: invoke throughput");
    const host = new RawWapc(rawModule);
    const rawCall = sampleSync(() => host.invoke("echo", PAYLOAD), { samples: 500, warmup: 100, batch: 200 });
    const ids: string[] = [];
    for (let i = 0; i < WORKERS; i++) {
      const instanceId = freshId("echo");
      // Admission (--max-concurrency, --queue-depth) sized for the load, so what is measured is the
      // invocation path, not its backpressure refusing the excess.
      await embedded.client.startInstance(
        startRequest({
          instanceId,
          moduleDigest,
          limits: { maxConcurrency: IN_FLIGHT, queueDepth: IN_FLIGHT },
        }),
      );
      ids.push(instanceId);
    }
    const invokeOne = async (instanceId: string) =>
      checkEcho(await embedded.client.invoke(invokeRequest(instanceId, "echo", PAYLOAD)));
    const sequential = await sampleAsync(() => invokeOne(ids[0]!), { samples: 3000, warmup: 300 });
    const runtimeInstance = embedded.agent.runtime.get(ids[0]!)!;
    const { oneInstance, spread, runtimeLayer } = await sampleThroughputInTurns(
      {
        oneInstance: () => invokeOne(ids[0]!),
        spread: (i) => invokeOne(ids[i % ids.length]!),
        runtimeLayer: async () => {
          const result = await runtimeInstance.invoke("echo", PAYLOAD);
          if (result.outcome.status !== "ok")
            throw new Error(`echo failed: ${JSON.stringify(result.outcome)}`);
        },
      },
      { total: INVOKES_PER_ROUND, concurrency: IN_FLIGHT, rounds: 4 },
    );
    const extismForeground = await extismRate(extismModule, 1, false);
    const extismBackground = await extismRate(extismModule, WORKERS, true);
    const rateBaselines = [
      { label: "raw V8 in-thread call", value: opsPerSecond(rawCall.median) },
      { label: "runtime layer alone (instance.invoke)", value: opsPerSecond(runtimeLayer.median) },
      { label: "Extism, one plugin in-thread", value: opsPerSecond(extismForeground.median) },
      { label: `Extism, ${WORKERS} plugins runInWorker`, value: opsPerSecond(extismBackground.median) },
    ];
    figures.push(
      {
        name: "client.invoke echo, one at a time",
        value: sequential.median,
        p99: sequential.p99,
        unit: "µs",
        baselines: [{ label: "raw V8 in-thread call", value: rawCall.median }],
      },
      {
        name: `client.invoke echo, ${IN_FLIGHT} in flight, one instance`,
        value: opsPerSecond(oneInstance.median),
        unit: "ops/s",
        baselines: rateBaselines,
        target: targets.atLeast(opsPerSecond(oneInstance.median), 50_000, "ops/s"),
      },
      {
        name: `client.invoke echo, ${IN_FLIGHT} in flight, ${WORKERS} instances (one per worker)`,
        value: opsPerSecond(spread.median),
        unit: "ops/s",
        baselines: rateBaselines,
        target: targets.atLeast(opsPerSecond(spread.median), 50_000, "ops/s"),
      },
    );
  } finally {
    await embedded.close();
  }
  return {
    name: "embedded",
    title: "Embedded mode (issue 5)",
    figures,
    notes: [
      EXTISM_RESET_NOTE,
      `createEmbedded with ${WORKERS} runtime workers; the echo reactor is examples/wat/echo_reactor.wat with a 16-byte payload; rates are wall time over ${INVOKES_PER_ROUND.toLocaleString("en-US")} calls per round, median of 4 rounds, the variants' rounds taken in turns`,
    ],
    elapsedMs: performance.now() - started,
  };
}

export const embeddedSuite: Suite = {
  name: "embedded",
  title: "Embedded mode (issue 5)",
  summary:
    "Start-to-running latency and invoke throughput through @wasmatrix/embedded (agent and in-process control plane), beside raw V8 and the Extism JS host.",
  run,
};

import { connect, invokeRequest, startRequest } from "@wasmatrix/client";
import type { Metrics } from "@wasmatrix/core";
import { PromMetrics } from "@wasmatrix/daemons";
import { createEmbedded, type Embedded } from "@wasmatrix/embedded";
import { echoReactor } from "../guests.js";
import { type Figure, type SuiteResult, targets } from "../report.js";
import { opsPerSecond, type Summary, sampleThroughputInTurns, summarize } from "../stats.js";
import type { Suite, SuiteOptions } from "../suite.js";

const PAYLOAD = new TextEncoder().encode("0123456789abcdef");
const IN_FLIGHT = 128;
const INVOKES_PER_ROUND = 20_000;
const GRPC_INVOKES_PER_ROUND = 5_000;
const START_SAMPLES = 150;
const START_WARMUP = 15;
/** Two clusters share the machine: one worker each keeps them from competing for cores unevenly. */
const WORKERS = 1;

/** Where a variant's instrumentation goes. Tracing is not built yet: there is no third variant. */
const VARIANTS: Record<"off" | "metrics", () => Metrics | undefined> = {
  off: () => undefined,
  metrics: () => new PromMetrics(),
};

interface Cluster {
  embedded: Embedded;
  address: string;
  moduleDigest: string;
  instanceId: string;
  metrics: PromMetrics | undefined;
}

async function cluster(metrics: Metrics | undefined): Promise<Cluster> {
  const embedded = await createEmbedded({
    node: { runtime: { workers: WORKERS } },
    ...(metrics === undefined ? {} : { metrics }),
  });
  const { address } = await embedded.serve("127.0.0.1:0");
  const compiled = await embedded.agent.runtime.compile(await echoReactor());
  const instanceId = "echo";
  // Admission sized for the load: the bench measures invocations, not backpressure refusing them.
  await embedded.client.startInstance(
    startRequest({
      instanceId,
      moduleDigest: compiled.digest,
      limits: { maxConcurrency: IN_FLIGHT, queueDepth: IN_FLIGHT },
    }),
  );
  return {
    embedded,
    address,
    moduleDigest: compiled.digest,
    instanceId,
    metrics: metrics instanceof PromMetrics ? metrics : undefined,
  };
}

function checkEcho(response: { response: Uint8Array; outcome?: { status: string } }): void {
  if (response.outcome?.status !== "ok" || response.response.byteLength !== PAYLOAD.byteLength) {
    throw new Error(`echo failed: ${JSON.stringify(response.outcome)}`);
  }
}

/** StartInstance by digest through the in-process client, then a stop outside the timing; in turns. */
async function startLatencies(clusters: Record<string, Cluster>): Promise<Record<string, Summary>> {
  const times = new Map<string, number[]>(Object.keys(clusters).map((k) => [k, []]));
  for (let i = 0; i < START_WARMUP + START_SAMPLES; i++) {
    for (const [name, c] of Object.entries(clusters)) {
      const instanceId = `start-${i}`;
      const began = performance.now();
      await c.embedded.client.startInstance(startRequest({ instanceId, moduleDigest: c.moduleDigest }));
      if (i >= START_WARMUP) times.get(name)!.push((performance.now() - began) * 1000);
      await c.embedded.agent.stop(instanceId);
    }
  }
  return Object.fromEntries([...times].map(([name, samples]) => [name, summarize(samples)]));
}

async function run({ log }: SuiteOptions): Promise<SuiteResult> {
  const started = performance.now();
  const off = await cluster(VARIANTS.off());
  const on = await cluster(VARIANTS.metrics());
  const offClient = connect(off.address, { timeoutMs: 30_000 });
  const onClient = connect(on.address, { timeoutMs: 30_000 });
  const figures: Figure[] = [];
  try {
    log("observability: invoke throughput, in process, metrics off / on in turns");
    const inProcess = await sampleThroughputInTurns(
      {
        off: async () => checkEcho(await off.embedded.client.invoke(invokeRequest("echo", "echo", PAYLOAD))),
        metrics: async () =>
          checkEcho(await on.embedded.client.invoke(invokeRequest("echo", "echo", PAYLOAD))),
      },
      { total: INVOKES_PER_ROUND, concurrency: IN_FLIGHT, rounds: 4 },
    );
    log("observability: invoke throughput over gRPC, metrics off / on in turns");
    const overGrpc = await sampleThroughputInTurns(
      {
        off: async () => checkEcho(await offClient.invoke(invokeRequest("echo", "echo", PAYLOAD))),
        metrics: async () => checkEcho(await onClient.invoke(invokeRequest("echo", "echo", PAYLOAD))),
      },
      { total: GRPC_INVOKES_PER_ROUND, concurrency: IN_FLIGHT, rounds: 4 },
    );
    log("observability: StartInstance latency, metrics off / on in turns");
    const starts = await startLatencies({ off, metrics: on });
    // The instrumented cluster really counted: a figure over a no-op would measure nothing.
    const scraped = (await on.metrics!.scrape()).match(/^wasmatrix_invocations_total\{outcome="ok"\} (\d+)/m);
    if (scraped === null || Number(scraped[1]) < INVOKES_PER_ROUND) {
      throw new Error("the metrics cluster did not count its invocations");
    }
    const rate = (s: Summary) => opsPerSecond(s.median);
    const offIn = { label: "metrics off (same run)", value: rate(inProcess.off!) };
    const offGrpc = { label: "metrics off (same run)", value: rate(overGrpc.off!) };
    const offStart = { label: "metrics off (same run)", value: starts["off"]!.median };
    figures.push(
      {
        name: `client.invoke echo in process, ${IN_FLIGHT} in flight, metrics on`,
        value: rate(inProcess.metrics!),
        unit: "ops/s",
        baselines: [offIn],
        target: targets.atLeast(rate(inProcess.metrics!), 0.95 * offIn.value, "ops/s"),
        note: "target: under 5% below metrics off",
      },
      {
        name: `client.invoke echo over gRPC, ${IN_FLIGHT} in flight, metrics on`,
        value: rate(overGrpc.metrics!),
        unit: "ops/s",
        baselines: [offGrpc],
        target: targets.atLeast(rate(overGrpc.metrics!), 0.95 * offGrpc.value, "ops/s"),
        note: "target: under 5% below metrics off",
      },
      {
        name: "StartInstance by digest (in process), metrics on",
        value: starts["metrics"]!.median,
        p99: starts["metrics"]!.p99,
        unit: "µs",
        baselines: [offStart],
        target: targets.atMost(starts["metrics"]!.median, 1.05 * offStart.value, "µs"),
        note: "target: under 5% above metrics off",
      },
    );
  } finally {
    offClient.close();
    onClient.close();
    await off.embedded.close();
    await on.embedded.close();
  }
  return {
    name: "observability",
    title: "Metrics overhead (issue 18)",
    figures,
    notes: [
      `two embedded clusters in one process, ${WORKERS} runtime worker each, one with PromMetrics (default process metrics included) and one without; variants measured in turns, median of 4 rounds of ${INVOKES_PER_ROUND.toLocaleString("en-US")} (in process) or ${GRPC_INVOKES_PER_ROUND.toLocaleString("en-US")} (gRPC) calls`,
      "tracing is not built yet, so there is no tracing-on variant",
    ],
    elapsedMs: performance.now() - started,
  };
}

export const observabilitySuite: Suite = {
  name: "observability",
  title: "Metrics overhead (issue 18)",
  summary:
    "Invoke throughput (in process and over gRPC) and StartInstance latency with Prometheus metrics on, beside the same cluster with them off, in the same run.",
  run,
};

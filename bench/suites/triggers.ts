import { invokeRequest, startRequest } from "@wasmatrix/client";
import { createEmbedded } from "@wasmatrix/embedded";
import * as pb from "@wasmatrix/proto";
import type { InProcessBus } from "@wasmatrix/providers";
import { echoReactor } from "../guests.js";
import type { Figure, SuiteResult } from "../report.js";
import type { Suite, SuiteOptions } from "../suite.js";

const PAYLOAD = new TextEncoder().encode("ping");

/** Resolves once `probe` is true, checking every few ms. */
async function until(probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function run({ long, log }: SuiteOptions): Promise<SuiteResult> {
  const started = performance.now();
  const messages = long ? 20_000 : 2_000;
  const embedded = await createEmbedded({ node: { runtime: { workers: 1 } } });
  const figures: Figure[] = [];
  try {
    const { client, agent } = embedded;
    await client.startInstance(
      startRequest({ instanceId: "sink", module: Buffer.from(await echoReactor()) }),
    );
    // Baseline: the same invocations made one after another by a caller in the same process.
    log(`${messages} direct invocations`);
    let t = performance.now();
    for (let i = 0; i < messages; i++) await client.invoke(invokeRequest("sink", "echo", PAYLOAD));
    const direct = messages / ((performance.now() - t) / 1000);

    await client.addTrigger({
      trigger: pb.Trigger.fromPartial({
        name: "bench",
        queueSubject: "bench.*",
        targetInstanceId: "sink",
        operation: "echo",
      }),
    });
    const bus = agent.providers.get("messaging") as unknown as InProcessBus;
    log(`${messages} messages through a queue trigger on the in-process bus`);
    t = performance.now();
    for (let i = 0; i < messages; i++) await bus.publish("bench.x", PAYLOAD);
    await until(
      async () => ((await client.listTriggers()).triggers[0]?.counters?.fired ?? 0) >= messages,
      120_000,
    );
    const viaTrigger = messages / ((performance.now() - t) / 1000);
    figures.push({
      name: "queue trigger deliveries, in-process bus (published at once, delivered one at a time)",
      value: viaTrigger,
      unit: "ops/s",
      baselines: [{ label: "direct invoke, sequential", value: direct }],
    });
  } finally {
    await embedded.close();
  }
  return {
    name: "triggers",
    title: "Triggers",
    figures,
    notes: [
      `${messages} messages published to the in-process bus, then timed until the trigger's delivered counter reached them all (maxInFlight 1: one invocation at a time, as subscriptions default to), beside the same number of sequential client.invoke calls in the same process.`,
    ],
    elapsedMs: performance.now() - started,
  };
}

export const triggersSuite: Suite = {
  name: "triggers",
  title: "Triggers",
  summary:
    "Queue-trigger deliveries through the in-process bus of `wasmatrix up`, beside direct invocations.",
  run,
};

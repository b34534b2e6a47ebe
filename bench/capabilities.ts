/**
 * Capabilities over real infrastructure (issue 7): the host-call round trip of a keyvalue
 * increment served in memory, on NATS JetStream and by a provider process, beside the raw `nats`
 * client doing a JetStream KV put and a request/reply; and messages per second through a
 * subscribed instance beside a raw NATS subscriber. Needs `nats-server` (scripts/install-toolchain.sh).
 */

import { parsePermission } from "@wasmatrix/core";
import { startControlPlaneDaemon, startProviderDaemon } from "@wasmatrix/daemons";
import { NodeAgent } from "@wasmatrix/node-agent";
import {
  JetStreamKeyvalueProvider,
  MemoryKeyvalueProvider,
  MessagingProvider,
  NatsLink,
} from "@wasmatrix/providers";
import { connect as natsConnect, StringCodec } from "nats";
import { capabilityCall, guests } from "../packages/node-agent/src/test-support/guests.js";
import { startNats } from "../test/support/nats.js";
import type { Figure, SuiteResult } from "./report.js";
import { opsPerSecond, sampleAsync } from "./stats.js";
import type { Suite, SuiteOptions } from "./suite.js";

const SAMPLES = 2_000;
const WARMUP = 200;
const MESSAGES = 20_000;
const kvPermissions = ["kv:read", "kv:write"].map((p) => parsePermission(p));
const increment = capabilityCall("default", "wasmatrix:keyvalue", "increment", { key: "n" });

async function run(options: SuiteOptions): Promise<SuiteResult> {
  const started = performance.now();
  const nats = await startNats({ jetstream: true });
  const link = new NatsLink({ servers: nats.url, name: "bench" });
  const module = await guests.proxy();
  const memory = new NodeAgent({ nodeId: "bench-mem", providers: [new MemoryKeyvalueProvider()] });
  const jetstream = new NodeAgent({
    nodeId: "bench-js",
    providers: [new JetStreamKeyvalueProvider({ link }), new MessagingProvider({ link })],
  });
  const remote = new NodeAgent({ nodeId: "bench-remote", providers: [] });
  const cp = await startControlPlaneDaemon({ listen: "127.0.0.1:0" });
  const provider = await startProviderDaemon({
    capability: "keyvalue",
    providerId: "bench-kv",
    controlPlane: cp.address,
    listen: "127.0.0.1:0",
  });
  // The provider serves only nodes the control plane lists as alive: keep this one reported.
  const node = {
    nodeId: remote.nodeId,
    address: "in-process",
    labels: {},
    capabilities: [],
    status: "alive",
    instances: 0,
    lastHeartbeatMs: 0,
    version: "1.2",
    maxInstances: 0,
  };
  cp.controlPlane.registerNode(node, { close() {} } as never);
  const keepAlive = setInterval(() => cp.controlPlane.reportStatus(remote.nodeId, []), 200);
  remote.setRemoteProviders((await cp.controlPlane.listProviders()).providers);
  const raw = await natsConnect({ servers: nats.url });
  try {
    const paths = [
      ["in-memory keyvalue (host call crosses to the main thread)", memory, "local"],
      ["JetStream keyvalue", jetstream, "local"],
      ["provider over gRPC (`startProviderDaemon`, in this process)", remote, "bench-kv"],
    ] as const;
    const figures: Figure[] = [];
    const js = raw.jetstream();
    const rawKv = await js.views.kv("bench_raw");
    const codec = StringCodec();
    options.log("capabilities: raw nats baselines");
    const rawPut = await sampleAsync(() => rawKv.put("n", codec.encode("1")), {
      samples: SAMPLES,
      warmup: WARMUP,
    });
    raw.subscribe("bench.echo", { callback: (_e, m) => m.respond(m.data) });
    const rawRequest = await sampleAsync(
      () => raw.request("bench.echo", codec.encode("x"), { timeout: 2_000 }),
      {
        samples: SAMPLES,
        warmup: WARMUP,
      },
    );
    const baselines = [
      { label: "raw nats JetStream KV put", value: rawPut.median },
      { label: "raw nats request/reply", value: rawRequest.median },
    ];
    for (const [label, agent, providerId] of paths) {
      options.log(`capabilities: ${label}`);
      await agent.start({
        instanceId: "kv",
        module,
        assignments: [
          {
            capability: "keyvalue",
            provider: providerId as never,
            binding: "default",
            permissions: kvPermissions,
          },
        ],
      });
      const once = async () => {
        const result = await agent.invoke("kv", "call", increment);
        if (result.guestError !== undefined) throw new Error(`${label}: ${result.guestError}`);
      };
      const summary = await sampleAsync(once, { samples: SAMPLES, warmup: WARMUP });
      figures.push({
        name: `keyvalue increment through a guest's host call: ${label}`,
        value: summary.median,
        p99: summary.p99,
        unit: "µs",
        baselines,
        note: "invoke round trip of a guest whose one host call is the increment",
      });
    }

    options.log("capabilities: messages through a subscribed instance");
    await jetstream.start({
      instanceId: "sub",
      module,
      assignments: [
        {
          capability: "messaging",
          provider: "local",
          binding: "default",
          permissions: [parsePermission("msg:subscribe:bench.msgs.>")],
        },
      ],
    });
    await jetstream.subscribe("sub", { subject: "bench.msgs.>", operation: "echo", maxInFlight: 16 });
    const subscribed = performance.now();
    for (let i = 0; i < MESSAGES; i++) raw.publish(`bench.msgs.${i % 8}`, codec.encode(String(i)));
    await raw.flush();
    while ((jetstream.subscriptions?.counters("sub").delivered ?? 0) < MESSAGES) {
      await new Promise((r) => setTimeout(r, 20));
      if (performance.now() - subscribed > 120_000)
        throw new Error("subscription did not deliver in 2 minutes");
    }
    const viaInstance = (MESSAGES / (performance.now() - subscribed)) * 1000;
    let received = 0;
    const done = new Promise<void>((resolve) => {
      raw.subscribe("bench.raw.>", {
        callback: () => {
          if (++received === MESSAGES) resolve();
        },
      });
    });
    const rawStarted = performance.now();
    for (let i = 0; i < MESSAGES; i++) raw.publish(`bench.raw.${i % 8}`, codec.encode(String(i)));
    await done;
    const rawRate = (MESSAGES / (performance.now() - rawStarted)) * 1000;
    figures.push({
      name: `messages through a subscribed instance (JetStream durable consumer, ${MESSAGES.toLocaleString("en-US")} messages)`,
      value: viaInstance,
      unit: "ops/s",
      baselines: [{ label: "raw nats core subscriber", value: rawRate }],
      note: `each message an invocation of the instance, acknowledged after it; 16 in flight; delivered ${jetstream.subscriptions?.counters("sub").delivered}`,
    });
    return {
      name: "capabilities",
      title: "Capabilities over NATS and provider processes (issue 7)",
      figures,
      notes: [
        `samples: ${SAMPLES} sequential calls after ${WARMUP} warm-up; a real nats-server with JetStream on loopback`,
        `raw baselines per second: KV put ${Math.round(opsPerSecond(rawPut.median))}/s, request/reply ${Math.round(opsPerSecond(rawRequest.median))}/s`,
      ],
      elapsedMs: performance.now() - started,
    };
  } finally {
    clearInterval(keepAlive);
    await raw.close();
    await Promise.all([memory.close(200), jetstream.close(200), remote.close(200)]);
    await provider.close();
    await cp.close();
    await link.close();
    await nats.stop();
  }
}

export const capabilitiesSuite: Suite = {
  name: "capabilities",
  title: "Capabilities over NATS and provider processes (issue 7)",
  summary:
    "Host-call round trip of a keyvalue increment in memory, on JetStream and through a provider process, and messages/s through a subscribed instance, each beside the raw nats client.",
  run,
};

/**
 * The distributed mode (issue 6): placement at 1,000 nodes, StartInstance and Invoke round trips
 * through a real control plane and node agent over gRPC on 127.0.0.1, failover after a node's
 * `kill -9`, and control-plane recovery with 2 × 1,000 instances. Every figure sits beside a
 * baseline measured in the same run. `npm run bench -- cluster`, or alone: `npx tsx --conditions=wasmatrix-source bench/cluster.ts`.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { connect, invokeRequest, listRequest, startRequest, watchRequest } from "@wasmatrix/client";
import {
  ControlPlane,
  Placement,
  type PlacementCandidate,
  type PlacementRequest,
} from "@wasmatrix/control-plane";
import { createEmbedded } from "@wasmatrix/embedded";
import * as pb from "@wasmatrix/proto";
import { connectNode } from "@wasmatrix/proto";
import { wat } from "@wasmatrix/runtime/test-support/wat";
import { Cluster, type Daemon, freePort, sleep, waitFor } from "../test/cluster/harness.js";
import { type Figure, type SuiteResult, textTable } from "./report.js";
import { type Summary, sampleAsync, sampleSync, summarize } from "./stats.js";
import type { Suite, SuiteOptions } from "./suite.js";

const PLACEMENT_NODES = 1_000;
const PLACEMENT_SAMPLES = 5_000;
/** Decisions discarded first: V8 compiles place() optimized only after some thousands. */
const PLACEMENT_WARMUP = 5_000;
const CP_START_SAMPLES = 500;
const CP_START_FILL = 3_000;
/** Short heartbeats, as in the cluster tests, so a loss is seen within a second. */
const HEARTBEAT_MS = 300;
const START_SAMPLES = 300;
/**
 * A daemon in service is warm: V8 optimizes grpc-js's and http2's paths only after a thousand
 * calls or so, and before that a round trip takes about twice as long. The first starts are
 * reported beside the warm figure.
 */
const START_WARMUP = 1_500;
const START_COLD = 100;
const RTT_SAMPLES = 2_000;
const RTT_WARMUP = 2_000;
const FAILOVER_ROUNDS = 3;
const RECOVERY_PER_NODE = 1_000;
const RECOVERY_ROUNDS = 3;
/** Starts in flight while filling the nodes for the recovery run. */
const FILL_IN_FLIGHT = 16;
const PAYLOAD = Buffer.from("0123456789abcdef");
const ALWAYS = { policy: { $case: "always" as const, value: {} } };

const echoReactor = async () =>
  Buffer.from(await wat(readFileSync(new URL("../examples/wat/echo_reactor.wat", import.meta.url), "utf8")));

const ms = (micros: Summary) => ({ median: micros.median / 1000, p99: micros.p99 / 1000 });

// ---------------------------------------------------------------------------------------------
// placement

function placementCandidates(): PlacementCandidate[] {
  return Array.from({ length: PLACEMENT_NODES }, (_, i) => ({
    nodeId: `node-${String(i).padStart(4, "0")}`,
    labels: { zone: ["a", "b", "c"][i % 3]!, disk: i % 2 === 0 ? "ssd" : "hdd", rack: `r${i % 40}` },
    capabilities: i % 10 === 0 ? ["logging", "keyvalue"] : ["logging", "keyvalue", "http", "messaging"],
    alive: i % 50 !== 7,
    instances: (i * 7919) % 97,
  }));
}

function placementFigures(log: (line: string) => void): Figure[] {
  log(`cluster: placement at ${PLACEMENT_NODES} nodes`);
  const nodes = placementCandidates();
  const placement = new Placement(nodes);
  const request: PlacementRequest = {
    capabilities: ["keyvalue", "http"],
    required: { zone: "b" },
    preferred: { disk: "ssd" },
  };
  let sink = "";
  const placed = sampleSync(() => (sink = placement.place(request)), {
    samples: PLACEMENT_SAMPLES,
    warmup: PLACEMENT_WARMUP,
  });
  const unconstrained = sampleSync(
    () => (sink = placement.place({ capabilities: [], required: {}, preferred: {} })),
    {
      samples: PLACEMENT_SAMPLES,
      warmup: PLACEMENT_WARMUP,
    },
  );
  // The floor: one pass over the same nodes keeping the least loaded live one.
  const scan = sampleSync(
    () => {
      let best: PlacementCandidate | undefined;
      for (const n of nodes) if (n.alive && (best === undefined || n.instances < best.instances)) best = n;
      sink = best!.nodeId;
    },
    { samples: PLACEMENT_SAMPLES, warmup: PLACEMENT_WARMUP },
  );
  if (sink === "") throw new Error("placement chose nothing");
  return [
    {
      name: `placement decision, ${PLACEMENT_NODES.toLocaleString("en-US")} nodes: Placement.place() with capabilities, a required and a preferred label`,
      value: placed.median,
      p99: placed.p99,
      unit: "µs",
      baselines: [
        { label: "plain array scan for the least loaded", value: scan.median },
        { label: "Placement.place() with no constraints", value: unconstrained.median },
      ],
      target: { text: "p99 ≤ 50 µs", met: placed.p99 <= 50 },
    },
  ];
}

/**
 * The same decision as the control plane takes it: ControlPlane.startInstance in process, with
 * 1,000 registered nodes whose API answers at once, first with few instances in the table and then
 * with thousands: nothing in a start should grow with the table.
 */
async function controlPlanePlacementFigure(log: (line: string) => void): Promise<Figure> {
  log("cluster: ControlPlane.startInstance in process, 1,000 nodes");
  const cp = new ControlPlane({ heartbeatIntervalMs: 60_000 });
  for (const c of placementCandidates().filter((n) => n.alive)) {
    const api = {
      startInstance: async (r: pb.StartInstanceRequest) =>
        pb.Instance.fromPartial({
          instanceId: r.instanceId,
          nodeId: c.nodeId,
          status: "running",
          createdAtMs: 1,
        }),
    } as unknown as pb.NodeAgentApi;
    cp.registerNode(
      pb.Node.fromPartial({
        nodeId: c.nodeId,
        address: `10.0.0.1:${c.nodeId.slice(5)}`,
        labels: c.labels,
        capabilities: [...c.capabilities],
      }),
      api,
    );
  }
  const digest = `sha256:${"0".repeat(64)}`;
  let n = 0;
  const start = () =>
    cp.startInstance(
      startRequest({ instanceId: `p-${n++}`, moduleDigest: digest, requiredNodeLabels: { zone: "b" } }),
    );
  const first = await sampleAsync(start, { samples: CP_START_SAMPLES, warmup: 50 });
  // More instances in the table: the per-start recount shows.
  for (let i = 0; i < CP_START_FILL; i++) await start();
  const later = await sampleAsync(start, { samples: CP_START_SAMPLES, warmup: 0 });
  cp.close();
  return {
    name: `ControlPlane.startInstance in process, 1,000 nodes, instant node API (first ${CP_START_SAMPLES} starts)`,
    value: first.median,
    p99: first.p99,
    unit: "µs",
    baselines: [
      {
        label: `the same with ${(2 * CP_START_SAMPLES + 50 + CP_START_FILL).toLocaleString("en-US")} instances in the table`,
        value: later.median,
      },
    ],
  };
}

/**
 * What a whole status report costs: a node sends its whole table (live instances and up to 1,000
 * retained ended ones) after each registration and on every tenth heartbeat.
 */
function reportFigure(log: (line: string) => void): Figure {
  log("cluster: status report encode/decode/apply");
  const now = Date.now();
  const instance = (i: number) =>
    pb.Instance.fromPartial({
      instanceId: `inst-${i}`,
      moduleDigest: `sha256:${"c".repeat(64)}`,
      nodeId: "ra",
      status: "running",
      kind: "reactor",
      restartPolicy: { policy: { $case: "never", value: {} } },
      createdAtMs: now,
      updatedAtMs: now,
      limits: {
        maxMemoryBytes: 256 * 1024 * 1024,
        fuel: 10_000_000_000,
        invokeTimeoutMs: 30_000,
        maxHostCallPayloadBytes: 1024 * 1024,
        maxOutputBytes: 1024 * 1024,
      },
      requiredNodeLabels: { node: "ra" },
    });
  const cp = new ControlPlane();
  cp.registerNode(pb.Node.fromPartial({ nodeId: "ra", address: "10.0.0.1:7401" }), {} as pb.NodeAgentApi);
  const cost = (count: number) => {
    const report = pb.ReportStatusRequest.fromPartial({
      nodeId: "ra",
      instances: Array.from({ length: count }, (_, i) => instance(i)),
    });
    let size = 0;
    const summary = sampleSync(
      () => {
        const bytes = pb.ReportStatusRequest.encode(report).finish();
        size = bytes.byteLength;
        cp.reportStatus("ra", pb.ReportStatusRequest.decode(bytes).instances);
      },
      { samples: count > 100 ? 100 : 2_000, warmup: 20 },
    );
    return { summary, size };
  };
  const big = cost(RECOVERY_PER_NODE);
  const one = cost(1);
  cp.close();
  return {
    name: `status report of ${RECOVERY_PER_NODE.toLocaleString("en-US")} instances (${Math.round(big.size / 1024)} KiB): encode + decode + ControlPlane.reportStatus`,
    value: big.summary.median / 1000,
    p99: big.summary.p99 / 1000,
    unit: "ms",
    baselines: [
      { label: "the same for a 1-instance report", value: one.summary.median / 1000 },
      { label: "heartbeat interval", value: HEARTBEAT_MS },
    ],
    note: "a node sends its whole table after each registration and on every tenth heartbeat; other reports name only what changed (at most one per 25 ms). The node's own viewToProto per instance is not included",
  };
}

// ---------------------------------------------------------------------------------------------
// round trips over gRPC

async function roundTripFigures(cluster: Cluster, cp: Daemon, node: Daemon, log: (line: string) => void) {
  const client = cluster.client(cp.address);
  const direct = connectNode(node.address);
  const module = await echoReactor();
  try {
    log("cluster: StartInstance round trips");
    const first = await client.startInstance(startRequest({ instanceId: "warm", module }));
    const moduleDigest = first.moduleDigest;
    let next = 0;
    const startTimes: number[] = [];
    const directTimes: number[] = [];
    const coldTimes: number[] = [];
    for (let i = 0; i < START_WARMUP + START_SAMPLES; i++) {
      if (i % 250 === 0) log(`cluster: StartInstance ${i}/${START_WARMUP + START_SAMPLES}`);
      for (const [api, times] of [
        [client, startTimes],
        [direct, directTimes],
      ] as const) {
        const instanceId = `s-${next++}`;
        const t0 = performance.now();
        await api.startInstance(startRequest({ instanceId, moduleDigest }));
        const micros = (performance.now() - t0) * 1000;
        if (i >= START_WARMUP) times.push(micros);
        else if (i < START_COLD && api === client) coldTimes.push(micros);
        await direct.stopInstance({ instanceId, deadlineMs: 0 });
      }
    }
    const start = ms(summarize(startTimes));
    const startDirect = ms(summarize(directTimes));
    const startCold = ms(summarize(coldTimes));
    const info = await sampleAsync(() => client.serverInfo(), { samples: RTT_SAMPLES, warmup: RTT_WARMUP });

    log("cluster: Invoke round trips");
    await client.startInstance(startRequest({ instanceId: "echo", moduleDigest }));
    const check = (r: pb.InvokeResponse) => {
      if (r.outcome?.status !== "ok" || r.response.byteLength !== PAYLOAD.byteLength)
        throw new Error("echo failed");
    };
    const viaCp = await sampleAsync(
      async () => check(await client.invoke(invokeRequest("echo", "echo", PAYLOAD))),
      {
        samples: RTT_SAMPLES,
        warmup: RTT_WARMUP,
      },
    );
    const viaNode = await sampleAsync(
      async () => check(await direct.invoke(invokeRequest("echo", "echo", PAYLOAD))),
      {
        samples: RTT_SAMPLES,
        warmup: RTT_WARMUP,
      },
    );
    const embedded = await createEmbedded({ node: { runtime: { workers: 1 } } });
    let inProcess: Summary;
    try {
      await embedded.client.startInstance(startRequest({ instanceId: "echo", module }));
      inProcess = await sampleAsync(
        async () => check(await embedded.client.invoke(invokeRequest("echo", "echo", PAYLOAD))),
        { samples: RTT_SAMPLES, warmup: RTT_WARMUP },
      );
    } finally {
      await embedded.close();
    }
    const figures: Figure[] = [
      {
        name: "StartInstance round trip over gRPC, cached module (by digest), client → control plane → node",
        value: start.median,
        p99: start.p99,
        unit: "ms",
        baselines: [
          { label: "gRPC serverInfo() round trip", value: info.median / 1000 },
          { label: "StartInstance straight to the node agent", value: startDirect.median },
          {
            label: `the same, first ${START_COLD} starts of fresh daemons (JIT cold)`,
            value: startCold.median,
          },
        ],
        target: { text: "≤ 3 ms median", met: start.median <= 3 },
      },
      {
        name: "Invoke round trip over gRPC, echo 16 B, client → control plane → node",
        value: viaCp.median,
        p99: viaCp.p99,
        unit: "µs",
        baselines: [
          { label: "gRPC serverInfo() round trip", value: info.median },
          { label: "Invoke straight to the node agent (one hop)", value: viaNode.median },
          { label: "in-process invoke (embedded client)", value: inProcess.median },
        ],
      },
    ];
    return figures;
  } finally {
    direct.close();
  }
}

// ---------------------------------------------------------------------------------------------
// failover

async function failoverFigure(
  cluster: Cluster,
  cpAddress: string,
  log: (line: string) => void,
): Promise<Figure> {
  const client = cluster.client(cpAddress, 1_000);
  const module = await echoReactor();
  const answered: number[] = [];
  const detected: number[] = [];
  for (let round = 0; round < FAILOVER_ROUNDS; round++) {
    log(`cluster: failover ${round + 1}/${FAILOVER_ROUNDS}`);
    const victimId = `victim-${round}`;
    const victim = await cluster.nodeAgent({
      nodeId: victimId,
      controlPlane: cpAddress,
      labels: { zone: "v" },
    });
    await cluster.nodesAlive(client, [victimId]);
    const instanceId = `failover-${round}`;
    const started = await client.startInstance(
      startRequest({ instanceId, module, restartPolicy: ALWAYS, preferredNodeLabels: { zone: "v" } }),
    );
    if (started.nodeId !== victimId) throw new Error(`placed on ${started.nodeId}, not ${victimId}`);
    const { sentAt } = await victim.kill("SIGKILL");
    await waitFor(
      `${instanceId} to answer again`,
      async () => {
        const r = await client.invoke(invokeRequest(instanceId, "echo", PAYLOAD));
        return r.outcome?.status === "ok" ? true : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 5 },
    );
    answered.push(Date.now() - sentAt);
    for await (const fact of client.watchEvents(watchRequest({ noFollow: true, kinds: ["node.lost"] }))) {
      if (fact.nodeId === victimId) detected.push(fact.atMs - sentAt);
    }
  }
  const total = summarize(answered);
  const loss = summarize(detected);
  return {
    name: `failover: kill -9 of a node → its \`always\` instance answering on another node (heartbeat ${HEARTBEAT_MS} ms, median of ${FAILOVER_ROUNDS})`,
    value: total.median,
    unit: "ms",
    baselines: [
      { label: "loss detected (node.lost fact − kill)", value: loss.median },
      { label: "3 × heartbeat, the configured loss interval", value: 3 * HEARTBEAT_MS },
    ],
    note: `rounds: ${answered.join(", ")} ms to answer; ${detected.join(", ")} ms to node.lost`,
  };
}

// ---------------------------------------------------------------------------------------------
// control-plane recovery

async function recoveryFigure(cluster: Cluster, log: (line: string) => void): Promise<Figure> {
  const port = await freePort();
  let cp = await cluster.controlPlane({ port, heartbeatMs: HEARTBEAT_MS });
  await Promise.all(
    ["ra", "rb"].map((nodeId) =>
      cluster.nodeAgent({ nodeId, controlPlane: cp.address, labels: { node: nodeId } }),
    ),
  );
  const client = cluster.client(cp.address);
  await cluster.nodesAlive(client, ["ra", "rb"]);
  const module = await echoReactor();
  const { moduleDigest } = await client.startInstance(
    startRequest({ instanceId: "ra-0", module, requiredNodeLabels: { node: "ra" } }),
  );
  await client.startInstance(
    startRequest({ instanceId: "rb-0", module, requiredNodeLabels: { node: "rb" } }),
  );
  log(`cluster: starting ${2 * RECOVERY_PER_NODE} instances for the recovery run`);
  const fillStarted = performance.now();
  const pending: string[] = [];
  for (let i = 1; i < RECOVERY_PER_NODE; i++) pending.push(`ra-${i}`, `rb-${i}`);
  await Promise.all(
    Array.from({ length: FILL_IN_FLIGHT }, async () => {
      for (let id = pending.pop(); id !== undefined; id = pending.pop()) {
        await client.startInstance(
          startRequest({ instanceId: id, moduleDigest, requiredNodeLabels: { node: id.slice(0, 2) } }),
        );
      }
    }),
  );
  const fillMs = performance.now() - fillStarted;
  const total = 2 * RECOVERY_PER_NODE;
  const allRunning = async (c: pb.ControlPlaneApi) =>
    (await c.listInstances(listRequest({ status: "running" }))).instances.length === total ? true : undefined;
  await waitFor("all instances running", () => allRunning(client), { timeoutMs: 30_000 });

  const fromSpawn: number[] = [];
  const fromServing: number[] = [];
  const startup: number[] = [];
  for (let round = 0; round < RECOVERY_ROUNDS; round++) {
    log(`cluster: control-plane recovery ${round + 1}/${RECOVERY_ROUNDS}`);
    await cp.kill("SIGKILL");
    const spawnedAt = performance.now();
    cp = await cluster.controlPlane({ port, heartbeatMs: HEARTBEAT_MS });
    const servingAt = performance.now();
    const fresh = connect(cp.address, { timeoutMs: 5_000 });
    try {
      await waitFor(`${total} instances listed again`, () => allRunning(fresh), {
        timeoutMs: 30_000,
        intervalMs: 10,
      });
    } finally {
      fresh.close();
    }
    const doneAt = performance.now();
    fromSpawn.push(doneAt - spawnedAt);
    fromServing.push(doneAt - servingAt);
    startup.push(servingAt - spawnedAt);
    // Let the next kill find a control plane in its steady state.
    await sleep(2 * HEARTBEAT_MS);
  }
  const recovery = summarize(fromSpawn);
  return {
    name: `control-plane recovery: kill -9, restart, until listInstances shows all ${total.toLocaleString("en-US")} running (2 nodes × ${RECOVERY_PER_NODE.toLocaleString("en-US")}; median of ${RECOVERY_ROUNDS})`,
    value: recovery.median,
    unit: "ms",
    baselines: [
      { label: "new control-plane process: spawn to serving (empty)", value: summarize(startup).median },
      { label: "serving to full table (re-registration and reports)", value: summarize(fromServing).median },
    ],
    target: { text: "≤ 2 s", met: recovery.median <= 2_000 },
    note: `rounds from spawn: ${fromSpawn.map((t) => t.toFixed(0)).join(", ")} ms; filling the nodes took ${(fillMs / 1000).toFixed(1)} s (${(fillMs / (total - 2)).toFixed(2)} ms per start, ${FILL_IN_FLIGHT} in flight)`,
  };
}

// ---------------------------------------------------------------------------------------------

async function run({ log }: SuiteOptions): Promise<SuiteResult> {
  const started = performance.now();
  const figures: Figure[] = [
    ...placementFigures(log),
    await controlPlanePlacementFigure(log),
    reportFigure(log),
  ];
  const cluster = new Cluster();
  try {
    const cp = await cluster.controlPlane({ heartbeatMs: HEARTBEAT_MS });
    const node = await cluster.nodeAgent({ nodeId: "bench-solo", controlPlane: cp.address });
    await cluster.nodesAlive(cluster.client(cp.address), ["bench-solo"]);
    figures.push(...(await roundTripFigures(cluster, cp, node, log)));
    // The same node survives each round; a fresh victim node is started and killed per round.
    figures.push(await failoverFigure(cluster, cp.address, log));
  } finally {
    await cluster.close();
  }
  const recovery = new Cluster();
  try {
    figures.push(await recoveryFigure(recovery, log));
  } finally {
    await recovery.close();
  }
  return {
    name: "cluster",
    title: "Distributed mode (issue 6)",
    figures,
    notes: [
      `real wasmatrix control-plane and node-agent processes (the CLI) on 127.0.0.1, heartbeat ${HEARTBEAT_MS} ms; round trips against one control plane with one node (failover adds a victim node per round); the echo reactor is examples/wat/echo_reactor.wat with a ${PAYLOAD.byteLength}-byte payload`,
      `StartInstance samples stop each instance again outside the timing, and follow ${START_WARMUP.toLocaleString("en-US")} untimed starts (round trips ${RTT_WARMUP.toLocaleString("en-US")} calls): the daemons' JIT is warm, as in service; the 'straight to the node agent' baselines skip the control plane's hop`,
    ],
    elapsedMs: performance.now() - started,
  };
}

export const clusterSuite: Suite = {
  name: "cluster",
  title: "Distributed mode (issue 6)",
  summary:
    "Placement at 1,000 nodes, StartInstance and Invoke round trips over gRPC, failover after a node loss and control-plane recovery with 2,000 instances, with real daemons on 127.0.0.1.",
  run,
};

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const t0 = performance.now();
  const log = (line: string) =>
    console.error(`[bench] ${((performance.now() - t0) / 1000).toFixed(1)} s ${line}`);
  const result = await clusterSuite.run({ long: false, log });
  console.log(`\n${textTable(result)}`);
}

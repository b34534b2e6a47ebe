/**
 * etcd clusters: how long a new node takes to become schedulable, how long a node killed outright
 * takes to be declared lost through its lease, and how long a fresh control plane takes to learn
 * 3 nodes × 1,000 instances. Each beside the same thing done without etcd in the same run.
 *
 * Runs as a suite of `bench/run.ts` (export `etcdSuite`) or alone: `npx tsx --conditions=wasmatrix-source bench/etcd.ts [--long]`.
 */
import { pathToFileURL } from "node:url";
import { listRequest, type WasmatrixClient } from "@wasmatrix/client";
import { NODES_PREFIX } from "@wasmatrix/etcd";
import { Etcd3 } from "etcd3";
import { EtcdCluster, facts, startReactor, waitFor } from "../test/etcd/harness.js";
import { type EtcdServer, startEtcd } from "../test/support/etcd.js";
import { type Figure, type SuiteResult, textTable } from "./report.js";
import { summarize } from "./stats.js";
import type { Suite, SuiteOptions } from "./suite.js";

/** The daemons' default pace: a 3 s lease, or 3 missed 1 s heartbeats without etcd. */
const HEARTBEAT_MS = 1_000;
const ROUND_TRIPS = 200;
const INSTANCES_PER_NODE = 1_000;
const STARTS_IN_FLIGHT = 16;

const median = (values: number[]) => summarize(values.map((v) => v * 1000)).median / 1000;
const elapsed = (since: number) => performance.now() - since;

/** put + get of one small key, the floor under everything etcd does for us. */
async function roundTrip(etcd: EtcdServer): Promise<number> {
  const client = new Etcd3({ hosts: etcd.endpoints });
  try {
    const times: number[] = [];
    for (let i = 0; i < ROUND_TRIPS + 20; i++) {
      const started = performance.now();
      await client.put("/bench/round-trip").value(String(i));
      await client.get("/bench/round-trip").string();
      if (i >= 20) times.push(elapsed(started));
    }
    await client.delete().key("/bench/round-trip");
    return median(times);
  } finally {
    client.close();
  }
}

async function alive(client: WasmatrixClient, nodeId: string): Promise<void> {
  await waitFor(
    `${nodeId} alive`,
    async () =>
      (await client.listNodes()).nodes.some((n) => n.nodeId === nodeId && n.status === "alive")
        ? true
        : undefined,
    { timeoutMs: 30_000, intervalMs: 2 },
  );
}

/**
 * Spawn of a node agent → the control plane lists it alive, with etcd and with RegisterNode; and,
 * via etcd, the part after the node's key appears (seen by a watcher in this process), which is
 * what the control plane's side costs: its watch, the registration and the first poll.
 */
async function schedulable(etcd: EtcdServer, runs: number, log: (line: string) => void): Promise<Figure[]> {
  const viaEtcd = new EtcdCluster({ endpoints: etcd.endpoints, heartbeatMs: HEARTBEAT_MS });
  const direct = new EtcdCluster({ endpoints: [], heartbeatMs: HEARTBEAT_MS });
  const raw = new Etcd3({ hosts: etcd.endpoints });
  const putAt = new Map<string, number>();
  const watcher = await raw.watch().prefix(NODES_PREFIX).create();
  watcher.on("put", (kv) => {
    const nodeId = kv.key.toString().slice(NODES_PREFIX.length);
    if (!putAt.has(nodeId)) putAt.set(nodeId, performance.now());
  });
  try {
    const [cpEtcd, cpDirect] = await Promise.all([viaEtcd.controlPlane(), direct.controlPlane()]);
    const clients = { etcd: viaEtcd.client(cpEtcd.address), register: direct.client(cpDirect.address) };
    const total: Record<"etcd" | "register", number[]> = { etcd: [], register: [] };
    const discovery: number[] = [];
    const serving: number[] = [];
    for (let run = 0; run < runs; run++) {
      for (const mode of ["etcd", "register"] as const) {
        const nodeId = `sched-${mode}-${run}`;
        const started = performance.now();
        const spawned =
          mode === "etcd"
            ? viaEtcd.nodeAgent(nodeId)
            : direct.nodeAgent(nodeId, {}, ["--control-plane", cpDirect.address]);
        const [daemon] = await Promise.all([
          spawned.then((d) => {
            serving.push(performance.now() - started);
            return d;
          }),
          alive(clients[mode], nodeId),
        ]);
        const aliveAt = performance.now();
        total[mode].push(aliveAt - started);
        if (mode === "etcd") discovery.push(aliveAt - (putAt.get(nodeId) ?? Number.NaN));
        await daemon.kill("SIGTERM");
      }
      log(
        `schedulable: run ${run + 1}/${runs}: etcd ${total.etcd.at(-1)!.toFixed(0)} ms (key → alive ${discovery.at(-1)!.toFixed(1)} ms), RegisterNode ${total.register.at(-1)!.toFixed(0)} ms`,
      );
    }
    return [
      {
        name: "new node schedulable (spawn → alive in the control plane's listNodes), via etcd",
        value: median(total.etcd),
        unit: "ms",
        baselines: [
          { label: "same, node registers with the control plane directly", value: median(total.register) },
          { label: "spawn → the node's own API answers (polled every 50 ms)", value: median(serving) },
        ],
        note: `median of ${runs}; the node-agent process start dominates both paths`,
      },
      {
        name: "the node's key appears in etcd → alive in the control plane's listNodes",
        value: median(discovery),
        unit: "ms",
        baselines: [],
        note: `median of ${runs}; the control plane's watch, the registration and its first poll (listNodes polled every 2 ms)`,
      },
    ];
  } finally {
    await watcher.cancel();
    raw.close();
    await Promise.all([viaEtcd.close(), direct.close()]);
  }
}

/** kill -9 of a node running one instance → node.lost at the control plane. */
async function lossDetection(etcd: EtcdServer, runs: number, log: (line: string) => void): Promise<Figure> {
  const results: Record<"etcd" | "heartbeat", number[]> = { etcd: [], heartbeat: [] };
  for (let run = 0; run < runs; run++) {
    for (const mode of ["etcd", "heartbeat"] as const) {
      const cluster = new EtcdCluster({
        endpoints: mode === "etcd" ? etcd.endpoints : [],
        heartbeatMs: HEARTBEAT_MS,
      });
      try {
        const cp = await cluster.controlPlane();
        const client = cluster.client(cp.address);
        const nodeId = `loss-${mode}-${run}`;
        const node = await cluster.nodeAgent(
          nodeId,
          {},
          mode === "etcd" ? [] : ["--control-plane", cp.address],
        );
        await alive(client, nodeId);
        // A node with nothing running that goes away has simply left; one with an instance is lost.
        await startReactor(client, { instanceId: `loss-${mode}-${run}` });
        // Let a couple of keep-alives / heartbeats pass, as in a node that has been up a while.
        await new Promise((r) => setTimeout(r, 2 * HEARTBEAT_MS));
        const { sentAt } = await node.kill("SIGKILL");
        const fact = await waitFor(
          `node.lost of ${nodeId}`,
          async () => (await facts(client, ["node.lost"])).find((f) => f.nodeId === nodeId),
          { timeoutMs: 20_000, intervalMs: 10 },
        );
        results[mode].push(fact.atMs - sentAt);
        log(`loss: ${mode} run ${run + 1}/${runs}: ${fact.atMs - sentAt} ms`);
      } finally {
        await cluster.close();
      }
    }
  }
  return {
    name: `lost node detected (kill -9 → node.lost), via etcd lease expiry (TTL ${(3 * HEARTBEAT_MS) / 1000} s)`,
    value: median(results.etcd),
    unit: "ms",
    baselines: [
      {
        label: `same, without etcd: 3 missed ${HEARTBEAT_MS} ms heartbeats`,
        value: median(results.heartbeat),
      },
    ],
    note: `median of ${runs}; etcd looks for expired leases every 500 ms, and a keep-alive goes out every TTL/3`,
  };
}

/** A fresh control plane → listInstances shows all 3 × 1,000 instances, via etcd and via --static-nodes. */
async function coldStart(etcd: EtcdServer, runs: number, log: (line: string) => void): Promise<Figure[]> {
  const cluster = new EtcdCluster({ endpoints: etcd.endpoints, heartbeatMs: HEARTBEAT_MS });
  const total = 3 * INSTANCES_PER_NODE;
  try {
    const nodes = await Promise.all(
      ["cold-1", "cold-2", "cold-3"].map((id) => cluster.nodeAgent(id, { node: id })),
    );
    const seeder = await cluster.controlPlane();
    const client = cluster.client(seeder.address, 60_000);
    for (const id of ["cold-1", "cold-2", "cold-3"]) await alive(client, id);
    const seeded = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: STARTS_IN_FLIGHT }, async () => {
        while (next < total) {
          const i = next++;
          const node = `cold-${(i % 3) + 1}`;
          await startReactor(client, { instanceId: `cold-${i}`, requiredNodeLabels: { node } });
        }
      }),
    );
    const seedMs = elapsed(seeded);
    log(`cold start: ${total} instances started in ${(seedMs / 1000).toFixed(1)} s`);
    await seeder.kill("SIGKILL");

    const static_ = ["--static-nodes", nodes.map((n) => n.address).join(",")];
    const times: Record<"etcd" | "static" | "bare", number[]> = { etcd: [], static: [], bare: [] };
    const bare = new EtcdCluster({ endpoints: [], heartbeatMs: HEARTBEAT_MS });
    try {
      for (let run = 0; run < runs; run++) {
        for (const mode of ["etcd", "static", "bare"] as const) {
          const started = performance.now();
          const cp =
            mode === "etcd"
              ? await cluster.controlPlane()
              : mode === "static"
                ? await bare.controlPlane(static_)
                : await bare.controlPlane();
          if (mode !== "bare") {
            const fresh = (mode === "etcd" ? cluster : bare).client(cp.address, 30_000);
            await waitFor(
              `${total} instances at a fresh ${mode} control plane`,
              async () =>
                (await fresh.listInstances(listRequest({ status: "running" }))).instances.length === total
                  ? true
                  : undefined,
              { timeoutMs: 60_000, intervalMs: 20 },
            );
          }
          times[mode].push(elapsed(started));
          await cp.kill("SIGKILL");
        }
        log(
          `cold start: run ${run + 1}/${runs}: etcd ${times.etcd.at(-1)!.toFixed(0)} ms, static ${times.static.at(-1)!.toFixed(0)} ms, bare ${times.bare.at(-1)!.toFixed(0)} ms`,
        );
      }
    } finally {
      await bare.close();
    }
    return [
      {
        name: `fresh control plane knows 3 nodes × ${INSTANCES_PER_NODE.toLocaleString("en-US")} instances (spawn → listInstances shows ${total.toLocaleString("en-US")}), via etcd`,
        value: median(times.etcd),
        unit: "ms",
        baselines: [
          { label: "same, nodes from --static-nodes", value: median(times.static) },
          { label: "spawn → a control plane with no nodes answers", value: median(times.bare) },
        ],
        note: `median of ${runs}`,
      },
      {
        name: `starting ${total.toLocaleString("en-US")} instances through one control plane, ${STARTS_IN_FLIGHT} in flight (setup)`,
        value: seedMs,
        unit: "ms",
        baselines: [],
      },
    ];
  } finally {
    await cluster.close();
  }
}

async function run(options: SuiteOptions): Promise<SuiteResult> {
  const began = performance.now();
  const runs = options.long ? 5 : 3;
  const etcd = await startEtcd();
  try {
    const figures: Figure[] = [];
    const rt = await roundTrip(etcd);
    options.log(`etcd put+get round trip: ${rt.toFixed(2)} ms`);
    figures.push({
      name: "etcd put + get of one key (etcd3 client, loopback)",
      value: rt,
      unit: "ms",
      baselines: [],
      note: `median of ${ROUND_TRIPS}`,
    });
    figures.push(...(await schedulable(etcd, options.long ? 9 : 5, options.log)));
    figures.push(await lossDetection(etcd, options.long ? 3 : 2, options.log));
    figures.push(...(await coldStart(etcd, runs, options.log)));
    return {
      name: "etcd",
      title: etcdSuite.title,
      figures,
      notes: [
        `real etcd ${"3.4"} (Debian etcd-server) and real wasmatrix daemons on loopback; heartbeat ${HEARTBEAT_MS} ms`,
        "every daemon is a fresh `node packages/cli/bin/wasmatrix.js` process: the times include its start",
      ],
      elapsedMs: elapsed(began),
    };
  } finally {
    await etcd.stop();
  }
}

export const etcdSuite: Suite = {
  name: "etcd",
  title: "etcd clusters",
  summary:
    "Time for a new node to become schedulable, to detect a lost node through its lease, and for a fresh control plane to learn 3 × 1,000 instances, each beside the same without etcd.",
  run,
};

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const result = await run({
    long: process.argv.includes("--long"),
    log: (line) => console.error(`[bench] ${line}`),
  });
  console.log(`\n${textTable(result)}`);
  process.exit(0);
}

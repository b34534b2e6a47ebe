import { connect, invokeRequest, startRequest, type WasmatrixClient, watchRequest } from "@wasmatrix/client";
import type * as pb from "@wasmatrix/proto";
import { connectNode, connectProvider } from "@wasmatrix/proto";
import { guests } from "../../packages/node-agent/src/test-support/guests.js";
import {
  type Daemon,
  freePort,
  sleep,
  spawnDaemon,
  TEST_HEARTBEAT_MS,
  untilServing,
  waitFor,
} from "../cluster/harness.js";

export { type Daemon, freePort, sleep, TEST_HEARTBEAT_MS, waitFor };

/**
 * Real `wasmatrix control-plane` and `wasmatrix node-agent` processes that meet through a real
 * etcd, on free loopback ports. Every child is killed with the test process even when a test
 * fails half-way.
 */

// Short heartbeats (TEST_HEARTBEAT_MS): a node's lease is then 2 s (the shortest), a poll every 300 ms.

export interface EtcdClusterOptions {
  /** etcd client URLs given to every daemon; empty for daemons that meet without etcd (baselines). */
  endpoints: string[];
  /** @default TEST_HEARTBEAT_MS */
  heartbeatMs?: number;
  /** @default "warn" */
  logLevel?: string;
}

/** The daemons and clients of one test file; `close()` kills whatever is still alive. */
export class EtcdCluster {
  private readonly daemons: Daemon[] = [];
  private readonly clients: { close(): void }[] = [];

  constructor(private readonly options: EtcdClusterOptions) {}

  /** Spawns a control plane and resolves once its API answers. */
  async controlPlane(extraArgs: string[] = []): Promise<Daemon> {
    const address = `127.0.0.1:${await freePort()}`;
    const daemon = this.spawn(`control-plane ${address}`, address, [
      "control-plane",
      "--listen",
      address,
      ...extraArgs,
    ]);
    const client = this.client(address, 2_000);
    await this.untilServing(daemon, () => client.serverInfo());
    return daemon;
  }

  /** Spawns a node agent and resolves as soon as its API answers (not when control planes know it). */
  async nodeAgent(
    nodeId: string,
    labels: Record<string, string> = {},
    extraArgs: string[] = [],
  ): Promise<Daemon> {
    const address = `127.0.0.1:${await freePort()}`;
    const args = ["node-agent", "--listen", address, "--node-id", nodeId, ...extraArgs];
    const pairs = Object.entries(labels);
    if (pairs.length > 0) args.push("--labels", pairs.map(([k, v]) => `${k}=${v}`).join(","));
    const daemon = this.spawn(`node-agent ${nodeId}`, address, args);
    const node = connectNode(address, { timeoutMs: 2_000 });
    this.clients.push(node);
    await this.untilServing(daemon, () => node.nodeInfo());
    return daemon;
  }

  /** Spawns a provider process that keeps its record in etcd, and resolves once it answers. */
  async provider(capability: string, providerId: string): Promise<Daemon> {
    const address = `127.0.0.1:${await freePort()}`;
    const daemon = this.spawn(`provider ${providerId}`, address, [
      "provider",
      capability,
      "--id",
      providerId,
      "--listen",
      address,
    ]);
    const probe = connectProvider(address);
    this.clients.push(probe);
    await this.untilServing(daemon, () => probe.providerInfo());
    return daemon;
  }

  client(address: string, timeoutMs = 10_000): WasmatrixClient {
    const client = connect(address, { timeoutMs });
    this.clients.push(client);
    return client;
  }

  node(address: string): ReturnType<typeof connectNode> {
    const node = connectNode(address, { timeoutMs: 5_000 });
    this.clients.push(node);
    return node;
  }

  async close(): Promise<void> {
    for (const client of this.clients) client.close();
    await Promise.all(
      this.daemons
        .filter((d) => d.child.exitCode === null && d.child.signalCode === null)
        .map((d) => d.kill("SIGKILL")),
    );
  }

  private spawn(name: string, address: string, args: string[]): Daemon {
    const common = [
      ...(this.options.endpoints.length === 0 ? [] : ["--etcd-endpoints", this.options.endpoints.join(",")]),
      "--heartbeat-interval",
      `${this.options.heartbeatMs ?? TEST_HEARTBEAT_MS}ms`,
      "--log-level",
      this.options.logLevel ?? "warn",
    ];
    const daemon = spawnDaemon(name, address, [...args, ...common]);
    this.daemons.push(daemon);
    return daemon;
  }

  private untilServing(daemon: Daemon, probe: () => Promise<unknown>): Promise<void> {
    return untilServing(daemon, probe);
  }
}

/** Waits until the control plane lists every one of `nodeIds` as alive. */
export function nodesAlive(
  client: WasmatrixClient,
  nodeIds: string[],
  timeoutMs = 15_000,
): Promise<pb.Node[]> {
  return waitFor(
    `nodes ${nodeIds.join(", ")} alive at ${client.address}`,
    async () => {
      const { nodes } = await client.listNodes();
      const alive = nodes.filter((n) => nodeIds.includes(n.nodeId) && n.status === "alive");
      return alive.length === nodeIds.length ? nodes : undefined;
    },
    { timeoutMs },
  );
}

export async function facts(client: WasmatrixClient, kinds: string[]): Promise<pb.Fact[]> {
  const out: pb.Fact[] = [];
  for await (const fact of client.watchEvents(watchRequest({ noFollow: true, kinds }))) out.push(fact);
  return out;
}

/**
 * The reactor the tests run: the node agent's proxy guest, whose `count` keeps a counter in
 * linear memory. A count that keeps climbing proves the instance was never restarted; one that
 * starts again at 1 proves it is a fresh instance.
 */
let reactorBytes: Buffer | undefined;
export async function startReactor(
  client: WasmatrixClient,
  fields: pb.DeepPartial<pb.StartInstanceRequest>,
): Promise<pb.Instance> {
  reactorBytes ??= Buffer.from(await guests.proxy());
  return client.startInstance(startRequest({ module: reactorBytes, ...fields }));
}

/** Invokes `count` and returns the counter it answers with (u32, little endian). */
export async function count(client: WasmatrixClient, instanceId: string): Promise<number> {
  const result = await client.invoke(invokeRequest(instanceId, "count"));
  if (result.outcome?.status !== "ok" || result.response.byteLength !== 4) {
    throw new Error(`count on ${instanceId} failed: ${JSON.stringify(result.outcome)} ${result.guestError}`);
  }
  return result.response.readUInt32LE(0);
}

export const always = { policy: { $case: "always" as const, value: {} } };
export const never = { policy: { $case: "never" as const, value: {} } };

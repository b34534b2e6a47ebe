import { invokeRequest } from "@wasmatrix/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startReactor } from "../cluster/guest.js";
import {
  Cluster,
  type Daemon,
  freePort,
  spawnDaemon,
  TEST_HEARTBEAT_MS,
  untilServing,
  waitFor,
} from "../cluster/harness.js";

/**
 * A control plane and two node agents as real processes, the control plane and node `n1` with
 * `--metrics`: heartbeats, node losses, node gauges and gRPC client and server latencies as each
 * side sees them.
 */

/** The value of one sample line (`name{labels} value`) in a scrape, or undefined. */
async function sample(address: string, series: string): Promise<number | undefined> {
  const text = await (await fetch(`http://${address}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const INVOKES = 5;

describe("metrics of a cluster's daemons", () => {
  const cluster = new Cluster();
  const daemons: Daemon[] = [];
  let cpMetrics: string;
  let nodeMetrics: string;
  let cp: string;

  async function daemon(name: string, address: string, args: string[]): Promise<Daemon> {
    const d = spawnDaemon(name, address, [...args, "--log-level", "warn"]);
    daemons.push(d);
    return d;
  }

  beforeAll(async () => {
    cp = `127.0.0.1:${await freePort()}`;
    cpMetrics = `127.0.0.1:${await freePort()}`;
    nodeMetrics = `127.0.0.1:${await freePort()}`;
    const heartbeat = `${TEST_HEARTBEAT_MS}ms`;
    const control = await daemon("control-plane", cp, [
      "control-plane",
      "--listen",
      cp,
      "--heartbeat-interval",
      heartbeat,
      "--metrics",
      cpMetrics,
    ]);
    const client = cluster.client(cp);
    await untilServing(control, () => client.serverInfo());
    for (const [id, metrics] of [
      ["n1", nodeMetrics],
      ["n2", undefined],
    ] as const) {
      const address = `127.0.0.1:${await freePort()}`;
      const args = ["node-agent", "--listen", address, "--node-id", id, "--control-plane", cp];
      args.push("--labels", `name=${id}`);
      if (metrics !== undefined) args.push("--metrics", metrics);
      await daemon(`node-agent ${id}`, address, args);
    }
    await cluster.nodesAlive(client, ["n1", "n2"], { timeoutMs: 60_000 });
    await startReactor(client, { instanceId: "counted", requiredNodeLabels: { name: "n1" } });
    for (let i = 0; i < INVOKES; i++) await client.invoke(invokeRequest("counted", "count"));
  }, 120_000);

  afterAll(async () => {
    await Promise.all(daemons.map((d) => d.kill("SIGKILL")));
    await cluster.close();
  });

  it("counts the node's invocations, gRPC calls answered and heartbeats sent, on the node", async () => {
    expect(await sample(nodeMetrics, 'wasmatrix_invocations_total{outcome="ok"}')).toBe(INVOKES);
    expect(await sample(nodeMetrics, 'wasmatrix_instances{status="running"}')).toBe(1);
    expect(
      await sample(
        nodeMetrics,
        'wasmatrix_grpc_server_handling_seconds_count{method="/wasmatrix.v1.NodeAgent/Invoke",code="OK"}',
      ),
    ).toBe(INVOKES);
    const sent = await sample(nodeMetrics, 'wasmatrix_heartbeats_total{direction="sent"}');
    expect(sent).toBeGreaterThan(0);
    expect(
      await sample(
        nodeMetrics,
        'wasmatrix_grpc_client_handling_seconds_count{method="/wasmatrix.v1.ControlPlane/ReportStatus",code="OK"}',
      ),
    ).toBeGreaterThanOrEqual(sent!);
  }, 60_000);

  it("counts heartbeats received and the calls it made to nodes, on the control plane", async () => {
    expect(await sample(cpMetrics, 'wasmatrix_heartbeats_total{direction="received"}')).toBeGreaterThan(0);
    expect(await sample(cpMetrics, 'wasmatrix_nodes{state="alive"}')).toBe(2);
    expect(
      await sample(
        cpMetrics,
        'wasmatrix_grpc_client_handling_seconds_count{method="/wasmatrix.v1.NodeAgent/Invoke",code="OK"}',
      ),
    ).toBe(INVOKES);
  }, 60_000);

  it("counts a node lost to kill -9, and shows it lost", async () => {
    expect(await sample(cpMetrics, "wasmatrix_node_losses_total")).toBe(0);
    await daemons.find((d) => d.name === "node-agent n2")!.kill("SIGKILL");
    await waitFor(
      "the control plane to count n2 lost",
      async () => ((await sample(cpMetrics, "wasmatrix_node_losses_total")) === 1 ? true : undefined),
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(await sample(cpMetrics, 'wasmatrix_nodes{state="lost"}')).toBe(1);
    expect(await sample(cpMetrics, 'wasmatrix_nodes{state="alive"}')).toBe(1);
  }, 60_000);
});

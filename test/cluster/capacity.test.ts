import { startRequest, stopRequest, type WasmatrixClient } from "@wasmatrix/client";
import { ErrorCode } from "@wasmatrix/core";
import { connectNode } from "@wasmatrix/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { count, reactor, startReactor } from "./guest.js";
import { Cluster, type Daemon, failure, waitFor } from "./harness.js";

/**
 * A control plane and two real node agents with small `--max-instances`: "small" (zone=a, 2
 * instances) and "roomy" (zone=b, 3). Placement passes a full node over, whatever it prefers, and
 * says so when every node is full; a node asked directly refuses at once.
 */
describe("a cluster whose nodes have a --max-instances", () => {
  const cluster = new Cluster();
  let client: WasmatrixClient;
  let small: Daemon;

  beforeAll(async () => {
    const cp = await cluster.controlPlane();
    [small] = await Promise.all([
      cluster.nodeAgent({
        nodeId: "small",
        controlPlane: cp.address,
        labels: { zone: "a" },
        maxInstances: 2,
      }),
      cluster.nodeAgent({
        nodeId: "roomy",
        controlPlane: cp.address,
        labels: { zone: "b" },
        maxInstances: 3,
      }),
    ]);
    client = cluster.client(cp.address);
    await cluster.nodesAlive(client, ["small", "roomy"]);
  });
  afterAll(() => cluster.close());

  it("knows each node's capacity from its registration", async () => {
    const { nodes } = await client.listNodes();
    const capacity = Object.fromEntries(nodes.map((n) => [n.nodeId, n.maxInstances]));
    expect(capacity).toEqual({ small: 2, roomy: 3 });
  });

  it("passes over a full node and lands the instance on another, even against its preferred labels", async () => {
    // Started together, before either report reaches the control plane: a node that answers it
    // is full sends the start on to the next one.
    const placed = await Promise.all(
      ["p1", "p2", "p3"].map((id) =>
        startReactor(client, { instanceId: id, preferredNodeLabels: { zone: "a" } }),
      ),
    );
    const nodes = placed.map((i) => i.nodeId).sort();
    expect(nodes).toEqual(["roomy", "small", "small"]);
    const later = await startReactor(client, { instanceId: "p4", preferredNodeLabels: { zone: "a" } });
    expect(later.nodeId).toBe("roomy");
    for (const id of ["p1", "p2", "p3", "p4"]) expect(await count(client, id)).toBe(1);
  });

  it("refuses a start directly on a full node agent with RESOURCE_EXHAUSTED, at once", async () => {
    const node = connectNode(small.address, { timeoutMs: 5_000 });
    try {
      const error = await failure(
        node.startInstance(startRequest({ instanceId: "direct", module: await reactor() })),
      );
      expect(error.code).toBe(ErrorCode.RESOURCE_EXHAUSTED);
      expect(error.message).toMatch(/node 'small' is full.*at most 2/);
      expect(error.details).toMatchObject({ reason: "capacity", maxInstances: 2, running: 2 });
    } finally {
      node.close();
    }
  });

  it("refuses with RESOURCE_EXHAUSTED and each node's reason when every node is full, while instances keep answering", async () => {
    await startReactor(client, { instanceId: "p5" });
    const error = await failure(startReactor(client, { instanceId: "p6" }));
    expect(error.code).toBe(ErrorCode.RESOURCE_EXHAUSTED);
    expect(error.message).toMatch(/every node that could run this instance is full/);
    expect(error.details["rejected"]).toEqual({
      roomy: "node is full: 3 of 3 instances",
      small: "node is full: 2 of 2 instances",
    });
    expect(await count(client, "p1")).toBe(2);
  });

  it("places on a node again once it has room", async () => {
    const onSmall = (await client.listInstances({ nodeId: "small", status: "running" })).instances[0]!;
    await client.stopInstance(stopRequest(onSmall.instanceId));
    const started = await waitFor("a start to find room", () =>
      startReactor(client, { instanceId: "p6" }).catch(() => undefined),
    );
    expect(started.nodeId).toBe("small");
  });
});

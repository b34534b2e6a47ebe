import { stopRequest, type WasmatrixClient } from "@wasmatrix/client";
import { ErrorCode } from "@wasmatrix/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { count, startReactor } from "./guest.js";
import { Cluster, type Daemon, TEST_HEARTBEAT_MS, waitFor } from "./harness.js";

/** A node agent that never registers: the control plane knows it from `--static-nodes` and polls it. */
describe("a control plane with --static-nodes", () => {
  const cluster = new Cluster();
  let node: Daemon;
  let client: WasmatrixClient;

  beforeAll(async () => {
    node = await cluster.nodeAgent({ nodeId: "fixed", labels: { rack: "r1" } });
    const cp = await cluster.controlPlane({ staticNodes: [node.address] });
    client = cluster.client(cp.address);
  });
  afterAll(() => cluster.close());

  it("lists the node it polls, and starts and invokes instances on it", async () => {
    const [listed] = await cluster.nodesAlive(client, ["fixed"]);
    expect(listed).toMatchObject({ nodeId: "fixed", address: node.address, labels: { rack: "r1" } });

    const started = await startReactor(client, {
      instanceId: "on-static",
      requiredNodeLabels: { rack: "r1" },
    });
    expect(started).toMatchObject({ nodeId: "fixed", status: "running" });
    expect(await count(client, "on-static")).toBe(1);
    expect(await count(client, "on-static")).toBe(2);
    // The next poll reports the instance as the node sees it.
    await waitFor("the polled table to show the instance", async () => {
      const { nodes } = await client.listNodes();
      return nodes[0]?.instances === 1 ? true : undefined;
    });
    expect((await client.stopInstance(stopRequest("on-static"))).status).toBe("stopped");
  });

  it("marks a static node that stops answering as lost", async () => {
    await startReactor(client, { instanceId: "static-victim" });
    const { sentAt } = await node.kill("SIGKILL");
    const lost = await waitFor(
      "the static node to be lost",
      async () => {
        const { nodes } = await client.listNodes();
        return nodes.find((n) => n.nodeId === "fixed" && n.status === "lost");
      },
      { timeoutMs: 5_000 },
    );
    expect(lost).toBeDefined();
    expect(Date.now() - sentAt).toBeLessThan(10 * TEST_HEARTBEAT_MS);
    const { instance } = await client.queryInstance({ instanceId: "static-victim", factLimit: 0 });
    expect(instance?.status).toBe("lost");
    await expect(count(client, "static-victim")).rejects.toMatchObject({ code: ErrorCode.NODE_UNAVAILABLE });
  });
});

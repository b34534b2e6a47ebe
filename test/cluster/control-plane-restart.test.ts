import { listRequest, type WasmatrixClient, watchRequest } from "@wasmatrix/client";
import type * as pb from "@wasmatrix/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { always, count, never, startReactor } from "./guest.js";
import { Cluster, type Daemon, freePort, waitFor } from "./harness.js";

/** What must come back after a restart: everything the nodes know, nothing the control plane made up. */
const row = (i: pb.Instance) => ({
  instanceId: i.instanceId,
  nodeId: i.nodeId,
  status: i.status,
  restarts: i.restarts,
  moduleDigest: i.moduleDigest,
  createdAtMs: i.createdAtMs,
  restartPolicy: i.restartPolicy,
});

async function table(client: WasmatrixClient) {
  const { instances } = await client.listInstances(listRequest());
  return instances.map(row).sort((a, b) => a.instanceId.localeCompare(b.instanceId));
}

describe("kill -9 of the control plane and a restart on the same port", () => {
  const cluster = new Cluster();
  let port: number;
  let cp: Daemon;
  let client: WasmatrixClient;
  const ids = ["r-a1", "r-a2", "r-b1", "r-b2"];

  beforeAll(async () => {
    port = await freePort();
    cp = await cluster.controlPlane({ port });
    await Promise.all([
      cluster.nodeAgent({ nodeId: "na", controlPlane: cp.address, labels: { zone: "a" } }),
      cluster.nodeAgent({ nodeId: "nb", controlPlane: cp.address, labels: { zone: "b" } }),
    ]);
    client = cluster.client(cp.address);
    await cluster.nodesAlive(client, ["na", "nb"]);
  });
  afterAll(() => cluster.close());

  it("gets the same instance table back from the nodes, and no instance ever stops", async () => {
    for (const id of ids) {
      const zone = id[2]!;
      const started = await startReactor(client, {
        instanceId: id,
        restartPolicy: id.endsWith("1") ? always : never,
        requiredNodeLabels: { zone },
      });
      expect(started.nodeId).toBe(`n${zone}`);
      for (let n = 1; n <= 2; n++) expect(await count(client, id)).toBe(n);
    }
    // An ended instance is part of the table too.
    await startReactor(client, { instanceId: "r-stopped", requiredNodeLabels: { zone: "a" } });
    await client.stopInstance({ instanceId: "r-stopped", deadlineMs: 0 });
    const before = await waitFor("the table to settle", async () => {
      const t = await table(client);
      return t.length === ids.length + 1 ? t : undefined;
    });

    const { sentAt } = await cp.kill("SIGKILL");
    // Nothing answers for the control plane, and the instances keep running meanwhile.
    await expect(client.serverInfo()).rejects.toMatchObject({ code: "NODE_UNAVAILABLE" });

    cp = await cluster.controlPlane({ port });
    const servingAt = Date.now();
    const fresh = cluster.client(cp.address);
    const info = await fresh.serverInfo();
    expect(info.startedAtMs).toBeGreaterThanOrEqual(sentAt);

    const after = await waitFor(
      "the instance table to come back",
      async () => {
        const t = await table(fresh);
        return JSON.stringify(t) === JSON.stringify(before) ? t : undefined;
      },
      { timeoutMs: 10_000 },
    );
    console.log(
      `[cluster] instance table back ${Date.now() - servingAt} ms after the new control plane served (${Date.now() - sentAt} ms after kill -9)`,
    );
    expect(after).toEqual(before);
    await cluster.nodesAlive(fresh, ["na", "nb"]);

    // Counters kept in the instances' memory carry on: nothing was restarted.
    for (const id of ids) expect(await count(fresh, id)).toBe(3);
    // The client from before the crash reconnects on its own.
    for (const id of ids) expect(await count(client, id)).toBe(4);
    for (const i of await table(fresh)) expect(i.restarts).toBe(0);

    // The nodes re-sent their facts: each instance started once, and nothing else happened to it.
    const facts: pb.Fact[] = [];
    for await (const f of fresh.watchEvents(watchRequest({ noFollow: true }))) facts.push(f);
    for (const id of ids) {
      expect(facts.filter((f) => f.instanceId === id).map((f) => f.kind)).toEqual(["instance.started"]);
    }
    expect(facts.filter((f) => f.instanceId === "r-stopped").map((f) => f.kind)).toEqual([
      "instance.started",
      "instance.stopped",
    ]);
    expect(
      facts
        .filter((f) => f.kind === "node.registered")
        .map((f) => f.nodeId)
        .sort(),
    ).toEqual(["na", "nb"]);
  });
});

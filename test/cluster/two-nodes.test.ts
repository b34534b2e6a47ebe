import {
  invokeRequest,
  listRequest,
  stopRequest,
  type WasmatrixClient,
  watchRequest,
} from "@wasmatrix/client";
import { CAPABILITY_KINDS, ErrorCode } from "@wasmatrix/core";
import type * as pb from "@wasmatrix/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { always, count, startReactor } from "./guest.js";
import { Cluster, type Daemon, failure, TEST_HEARTBEAT_MS, waitFor } from "./harness.js";

/**
 * A control plane and two node agents as real processes: the user-facing API through the client
 * package, and placement by required labels, preferred labels and load.
 */
describe("a control plane with two node agents (zone=a, zone=b)", () => {
  const cluster = new Cluster();
  let client: WasmatrixClient;
  let nb: Daemon;

  beforeAll(async () => {
    const cp = await cluster.controlPlane();
    [, nb] = await Promise.all([
      cluster.nodeAgent({ nodeId: "na", controlPlane: cp.address, labels: { zone: "a" } }),
      cluster.nodeAgent({ nodeId: "nb", controlPlane: cp.address, labels: { zone: "b" } }),
    ]);
    client = cluster.client(cp.address);
    await cluster.nodesAlive(client, ["na", "nb"]);
  });
  afterAll(() => cluster.close());

  /** Instances that are not ended, per node, as the control plane counts them for placement. */
  async function loads(): Promise<Record<string, number>> {
    const { nodes } = await client.listNodes();
    return Object.fromEntries(nodes.map((n) => [n.nodeId, n.instances]));
  }

  it("lists both nodes with their labels, capabilities and liveness", async () => {
    const { nodes } = await client.listNodes();
    const byId = Object.fromEntries(nodes.map((n) => [n.nodeId, n]));
    expect(Object.keys(byId).sort()).toEqual(["na", "nb"]);
    expect(byId["na"]).toMatchObject({ status: "alive", labels: { zone: "a" } });
    expect(byId["nb"]).toMatchObject({ status: "alive", labels: { zone: "b" } });
    for (const node of nodes) {
      expect(node.capabilities).toEqual(expect.arrayContaining(["logging", "keyvalue", "http"]));
      // Alive means heard from within the loss interval (3 heartbeats), give or take a check.
      expect(Date.now() - node.lastHeartbeatMs).toBeLessThan(4 * TEST_HEARTBEAT_MS);
    }
  });

  it("starts, queries, invokes and stops an instance through the client package", async () => {
    const started = await startReactor(client, { instanceId: "basic", labels: { app: "demo" } });
    expect(started).toMatchObject({ instanceId: "basic", status: "running", kind: "reactor", restarts: 0 });
    expect(["na", "nb"]).toContain(started.nodeId);
    expect(started.moduleDigest).toMatch(/^sha256:[0-9a-f]{64}$/);

    const echoed = await client.invoke(invokeRequest("basic", "echo", "over two hops"));
    expect(echoed.outcome?.status).toBe("ok");
    expect(echoed.response.toString()).toBe("over two hops");
    expect(await count(client, "basic")).toBe(1);
    expect(await count(client, "basic")).toBe(2);

    // The node's own facts reach the control plane with its next report.
    const query = await waitFor("the node's instance.started fact", async () => {
      const q = await client.queryInstance({ instanceId: "basic", factLimit: 0 });
      return q.recentFacts.some((f) => f.kind === "instance.started") ? q : undefined;
    });
    expect(query.instance).toMatchObject({
      instanceId: "basic",
      nodeId: started.nodeId,
      labels: { app: "demo" },
    });
    const fact = query.recentFacts.find((f) => f.kind === "instance.started")!;
    expect(fact).toMatchObject({ instanceId: "basic", nodeId: started.nodeId });
    expect(JSON.parse(fact.dataJson)).toMatchObject({ moduleDigest: started.moduleDigest });

    const stopped = await client.stopInstance(stopRequest("basic"));
    expect(stopped).toMatchObject({ instanceId: "basic", status: "stopped", nodeId: started.nodeId });
    const listed = await client.listInstances(listRequest({ status: "stopped" }));
    expect(listed.instances.map((i) => i.instanceId)).toContain("basic");
    const refused = await failure(client.invoke(invokeRequest("basic", "echo", "x")));
    expect(refused.code).toBe(ErrorCode.FAILED_PRECONDITION);
  });

  it("places an instance only on a node carrying every required label", async () => {
    for (let i = 0; i < 3; i++) {
      const b = await startReactor(client, { instanceId: `req-b-${i}`, requiredNodeLabels: { zone: "b" } });
      expect(b.nodeId).toBe("nb");
    }
    // na is now the less loaded node, and still the only one with zone=a.
    const a = await startReactor(client, { instanceId: "req-a", requiredNodeLabels: { zone: "a" } });
    expect(a.nodeId).toBe("na");
    expect(
      (await startReactor(client, { instanceId: "req-b-3", requiredNodeLabels: { zone: "b" } })).nodeId,
    ).toBe("nb");

    const nowhere = await failure(
      startReactor(client, { instanceId: "req-c", requiredNodeLabels: { zone: "c" } }),
    );
    expect(nowhere.code).toBe(ErrorCode.NODE_UNAVAILABLE);
    expect(nowhere.details).toEqual({
      rejected: { na: "label zone=c missing", nb: "label zone=c missing" },
    });
    await expect(client.queryInstance({ instanceId: "req-c", factLimit: 0 })).rejects.toMatchObject({
      code: ErrorCode.INSTANCE_NOT_FOUND,
    });
  });

  it("prefers a node with the preferred labels, even a more loaded one", async () => {
    const before = await loads();
    expect(before["nb"]).toBeGreaterThan(before["na"]!);
    const preferB = await startReactor(client, { instanceId: "pref-b", preferredNodeLabels: { zone: "b" } });
    expect(preferB.nodeId).toBe("nb");
    // More preferred labels matched wins over fewer; a label no node has changes nothing.
    const preferA = await startReactor(client, {
      instanceId: "pref-a",
      preferredNodeLabels: { zone: "a", disk: "ssd" },
    });
    expect(preferA.nodeId).toBe("na");
    const load = await loads();
    const unmatched = await startReactor(client, {
      instanceId: "pref-x",
      preferredNodeLabels: { disk: "ssd" },
    });
    expect(unmatched.nodeId).toBe(load["na"]! <= load["nb"]! ? "na" : "nb");
  });

  it("places an instance only on a node that serves every capability it is assigned", async () => {
    const { nodes } = await client.listNodes();
    const served = new Set(nodes.flatMap((n) => n.capabilities));
    // The CLI's node agents serve keyvalue and http; a capability none of them serves cannot be placed.
    const unserved = CAPABILITY_KINDS.find((c) => !served.has(c));
    const kv = { capability: "keyvalue", provider: "", binding: "", permissions: ["kv:read"] };
    const withKv = await startReactor(client, { instanceId: "cap-kv", assignments: [kv] });
    expect(withKv.assignments).toEqual([{ ...kv, provider: "local", binding: "default" }]);
    if (unserved === undefined) return;
    const permission = {
      messaging: "msg:publish:a.b",
      keyvalue: "kv:read",
      http: "http:request",
      logging: "",
      filesystem: "fs:read:/data",
    };
    const error = await failure(
      startReactor(client, {
        instanceId: "cap-unserved",
        assignments: [
          { capability: unserved, provider: "", binding: "", permissions: [permission[unserved]] },
        ],
      }),
    );
    expect(error.code).toBe(ErrorCode.NODE_UNAVAILABLE);
    expect(error.details).toEqual({
      rejected: { na: `does not serve ${unserved}`, nb: `does not serve ${unserved}` },
    });
  });

  it("spreads unconstrained instances over the least loaded node", async () => {
    for (let i = 0; i < 8; i++) {
      const load = await loads();
      const least = Math.min(load["na"]!, load["nb"]!);
      const expected = load["na"] === least ? "na" : "nb";
      const started = await startReactor(client, { instanceId: `spread-${i}` });
      expect(started.nodeId, `start ${i} with loads ${JSON.stringify(load)}`).toBe(expected);
    }
    const load = await loads();
    expect(Math.abs(load["na"]! - load["nb"]!)).toBeLessThanOrEqual(1);
    const { instances } = await client.listInstances(listRequest({ status: "running" }));
    expect(instances.filter((i) => i.instanceId.startsWith("spread-"))).toHaveLength(8);
  });

  it("keeps routing to the running copy when a stopped copy of the same id remains on another node", async () => {
    const first = await startReactor(client, { instanceId: "mover", requiredNodeLabels: { zone: "a" } });
    expect(first.nodeId).toBe("na");
    await client.stopInstance(stopRequest("mover"));
    // The id is free again once its instance has ended; this time it must run in zone b.
    const second = await startReactor(client, { instanceId: "mover", requiredNodeLabels: { zone: "b" } });
    expect(second).toMatchObject({ nodeId: "nb", status: "running" });
    // na keeps reporting its stopped copy on every heartbeat; over several of them the control
    // plane must go on showing, and routing to, the running one.
    const until = Date.now() + 5 * TEST_HEARTBEAT_MS;
    let calls = 0;
    while (Date.now() < until) {
      const { instance } = await client.queryInstance({ instanceId: "mover", factLimit: 0 });
      expect(instance, `after ${calls} calls`).toMatchObject({ nodeId: "nb", status: "running" });
      expect(await count(client, "mover")).toBe(++calls);
    }
  });

  it("lets a node agent leave on SIGTERM: its instances stop, it deregisters, nothing is lost or moved", async () => {
    await startReactor(client, {
      instanceId: "leaver",
      restartPolicy: always,
      requiredNodeLabels: { zone: "b" },
    });
    const onB = (await client.listInstances(listRequest({ nodeId: "nb" }))).instances.map(
      (i) => i.instanceId,
    );
    expect(onB).toContain("leaver");
    const { code } = await nb.kill("SIGTERM");
    expect(code, nb.stderr()).toBe(0);
    const { nodes } = await client.listNodes();
    expect(nodes.map((n) => n.nodeId)).toEqual(["na"]);
    const { instances } = await client.listInstances(listRequest());
    expect(instances.filter((i) => i.nodeId === "nb")).toEqual([]);
    expect(instances.map((i) => i.instanceId)).not.toContain("leaver");
    const facts: pb.Fact[] = [];
    for await (const f of client.watchEvents(watchRequest({ noFollow: true }))) facts.push(f);
    expect(facts.filter((f) => f.kind === "node.lost" || f.kind === "instance.lost")).toEqual([]);
    // Its last report carried the stops.
    const stopped = facts
      .filter((f) => f.kind === "instance.stopped" && f.nodeId === "nb")
      .map((f) => f.instanceId);
    expect(stopped).toEqual(expect.arrayContaining(["leaver"]));
  });
});

import { listRequest, type WasmatrixClient, watchRequest } from "@wasmatrix/client";
import { DEFAULT_LOSS_AFTER_INTERVALS } from "@wasmatrix/control-plane";
import { ErrorCode } from "@wasmatrix/core";
import type * as pb from "@wasmatrix/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { always, count, never, startReactor } from "./guest.js";
import { Cluster, type Daemon, failure, TEST_HEARTBEAT_MS, waitFor } from "./harness.js";

/** The control plane checks liveness four times per interval (ControlPlane.startLivenessChecks). */
const CHECK_PERIOD_MS = TEST_HEARTBEAT_MS / 4;
/** Scheduling slack on a busy 2-core machine. */
const SLACK_MS = 300;

async function facts(client: WasmatrixClient, kinds: string[]): Promise<pb.Fact[]> {
  const out: pb.Fact[] = [];
  for await (const fact of client.watchEvents(watchRequest({ noFollow: true, kinds }))) out.push(fact);
  return out;
}

describe("kill -9 of a node agent", () => {
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

  it("marks the node lost within 3 intervals, records the facts and moves only the `always` instances", async () => {
    const prefer = { preferredNodeLabels: { zone: "b" } };
    expect(
      (await startReactor(client, { instanceId: "keeper", restartPolicy: always, ...prefer })).nodeId,
    ).toBe("nb");
    expect(
      (await startReactor(client, { instanceId: "goner", restartPolicy: never, ...prefer })).nodeId,
    ).toBe("nb");
    expect(
      (await startReactor(client, { instanceId: "bystander", requiredNodeLabels: { zone: "a" } })).nodeId,
    ).toBe("na");
    for (let i = 1; i <= 3; i++) expect(await count(client, "keeper")).toBe(i);
    expect(await count(client, "bystander")).toBe(1);

    const { sentAt } = await nb.kill("SIGKILL");

    const lost = await waitFor(
      "nb to be lost",
      async () => {
        const { nodes } = await client.listNodes();
        return nodes.find((n) => n.nodeId === "nb" && n.status === "lost");
      },
      { timeoutMs: 5_000 },
    );
    expect(lost.instances).toBe(0);
    const [nodeLost] = (await facts(client, ["node.lost"])).filter((f) => f.nodeId === "nb");
    expect(nodeLost).toBeDefined();
    const detectedAfterMs = nodeLost!.atMs - sentAt;
    const budgetMs = DEFAULT_LOSS_AFTER_INTERVALS * TEST_HEARTBEAT_MS + CHECK_PERIOD_MS + SLACK_MS;
    console.log(
      `[cluster] node.lost ${detectedAfterMs} ms after kill -9 (heartbeat ${TEST_HEARTBEAT_MS} ms, budget ${budgetMs} ms)`,
    );
    expect(detectedAfterMs).toBeLessThanOrEqual(budgetMs);
    // Not before the node had really been silent for the loss interval.
    expect(nodeLost!.atMs - JSON.parse(nodeLost!.dataJson).lastHeartbeatAt).toBeGreaterThan(
      DEFAULT_LOSS_AFTER_INTERVALS * TEST_HEARTBEAT_MS,
    );

    const instanceLost = (await facts(client, ["instance.lost"])).filter((f) => f.nodeId === "nb");
    expect(instanceLost.map((f) => f.instanceId).sort()).toEqual(["goner", "keeper"]);
    for (const fact of instanceLost) expect(JSON.parse(fact.dataJson)).toEqual({ reason: "node_lost" });

    // The `always` instance runs again on the only other node: a fresh instance, so its
    // in-memory counter starts over.
    const moved = await waitFor("keeper to run on na", async () => {
      const { instance } = await client.queryInstance({ instanceId: "keeper", factLimit: 0 });
      return instance?.nodeId === "na" && instance.status === "running" ? instance : undefined;
    });
    expect(await count(client, "keeper")).toBe(1);
    console.log(`[cluster] keeper answering on na ${Date.now() - sentAt} ms after kill -9`);
    expect(moved.moduleDigest).toMatch(/^sha256:/);

    // The `never` instance stays lost, across several more heartbeats of the surviving node.
    const until = Date.now() + 3 * TEST_HEARTBEAT_MS;
    while (Date.now() < until) {
      const { instances } = await client.listInstances(listRequest());
      const byId = Object.fromEntries(instances.map((i) => [i.instanceId, i]));
      expect(byId["goner"]).toMatchObject({ nodeId: "nb", status: "lost" });
      expect(byId["keeper"]).toMatchObject({ nodeId: "na", status: "running" });
      expect(byId["bystander"]).toMatchObject({ nodeId: "na", status: "running", restarts: 0 });
      await new Promise((r) => setTimeout(r, TEST_HEARTBEAT_MS / 2));
    }
    await expect(count(client, "goner")).rejects.toMatchObject({ code: ErrorCode.NODE_UNAVAILABLE });
    // The bystander on the surviving node was never touched.
    expect(await count(client, "bystander")).toBe(2);
  });

  it("places new instances only on live nodes", async () => {
    for (let i = 0; i < 3; i++) {
      expect(
        (await startReactor(client, { instanceId: `after-${i}`, ...{ preferredNodeLabels: { zone: "b" } } }))
          .nodeId,
      ).toBe("na");
    }
    await expect(
      startReactor(client, { instanceId: "needs-b", requiredNodeLabels: { zone: "b" } }),
    ).rejects.toMatchObject({
      code: ErrorCode.NODE_UNAVAILABLE,
      details: { rejected: { na: "label zone=b missing", nb: "node is lost" } },
    });
  });
});

describe("a node agent paused past the loss interval (SIGSTOP, then SIGCONT)", () => {
  const cluster = new Cluster();
  afterAll(() => cluster.close());

  it("is lost while silent, and when it answers again comes back with its whole table and instances untouched", async () => {
    const cp = await cluster.controlPlane();
    const node = await cluster.nodeAgent({ nodeId: "sleepy", controlPlane: cp.address });
    const client = cluster.client(cp.address);
    await cluster.nodesAlive(client, ["sleepy"]);
    await startReactor(client, { instanceId: "dreamer", restartPolicy: never });
    expect(await count(client, "dreamer")).toBe(1);

    node.child.kill("SIGSTOP");
    try {
      await waitFor("sleepy to be lost", async () => {
        const { instance } = await client.queryInstance({ instanceId: "dreamer", factLimit: 0 });
        return instance?.status === "lost" ? instance : undefined;
      });
    } finally {
      node.child.kill("SIGCONT");
    }

    // Its next report names only what changed (nothing): the control plane asks for the whole
    // table, which brings `dreamer` back as running, on the same node, never restarted.
    const back = await waitFor("dreamer to be listed running again", async () => {
      const { instance } = await client.queryInstance({ instanceId: "dreamer", factLimit: 0 });
      return instance?.status === "running" ? instance : undefined;
    });
    expect(back).toMatchObject({ nodeId: "sleepy", restarts: 0 });
    expect((await client.listNodes()).nodes).toMatchObject([
      { nodeId: "sleepy", status: "alive", instances: 1 },
    ]);
    expect(await count(client, "dreamer")).toBe(2);
    const kinds = (await facts(client, ["node.lost", "node.registered"])).map((f) => f.kind);
    expect(kinds).toEqual(["node.registered", "node.lost", "node.registered"]);
  });
});

describe("kill -9 of the only node with the label an `always` instance requires", () => {
  const cluster = new Cluster();
  afterAll(() => cluster.close());

  it("keeps the instance pending with a fact saying why, and starts it on the next node with the label", async () => {
    const cp = await cluster.controlPlane();
    const [, zoneB] = await Promise.all([
      cluster.nodeAgent({ nodeId: "za", controlPlane: cp.address, labels: { zone: "a" } }),
      cluster.nodeAgent({ nodeId: "zb", controlPlane: cp.address, labels: { zone: "b" } }),
    ]);
    const client = cluster.client(cp.address);
    await cluster.nodesAlive(client, ["za", "zb"]);
    const started = await startReactor(client, {
      instanceId: "pinned",
      restartPolicy: always,
      requiredNodeLabels: { zone: "b" },
    });
    expect(started.nodeId).toBe("zb");
    expect(await count(client, "pinned")).toBe(1);

    await zoneB.kill("SIGKILL");
    const pending = await waitFor("pinned to be pending", async () => {
      const { instance } = await client.queryInstance({ instanceId: "pinned", factLimit: 0 });
      return instance?.status === "pending" ? instance : undefined;
    });
    expect(pending.nodeId).toBe("zb");
    const [why] = await facts(client, ["instance.pending"]);
    expect(why).toMatchObject({ instanceId: "pinned" });
    expect(JSON.parse(why!.dataJson)).toEqual({
      reason: "no_eligible_node",
      detail: "za: label zone=b missing; zb: node is lost",
    });
    const refused = await failure(count(client, "pinned"));
    expect(refused.code).toBe(ErrorCode.NODE_UNAVAILABLE);
    expect(refused.message).toContain("'pinned' is pending");
    expect(refused.message).toContain("za: label zone=b missing");

    await cluster.nodeAgent({ nodeId: "zb2", controlPlane: cp.address, labels: { zone: "b" } });
    const back = await waitFor("pinned to run on zb2", async () => {
      const { instance } = await client.queryInstance({ instanceId: "pinned", factLimit: 0 });
      return instance?.status === "running" && instance.nodeId === "zb2" ? instance : undefined;
    });
    expect(back.restartPolicy).toEqual(always);
    expect(await count(client, "pinned")).toBe(1);
    expect(await facts(client, ["instance.pending"])).toHaveLength(1);
  });
});

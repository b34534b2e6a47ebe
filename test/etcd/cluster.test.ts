import { listRequest, stopRequest, type WasmatrixClient } from "@wasmatrix/client";
import { isEnded } from "@wasmatrix/core";
import { NODES_PREFIX, nodeKey, PROVIDERS_PREFIX, parseKey, providerKey } from "@wasmatrix/etcd";
import type * as pb from "@wasmatrix/proto";
import { Etcd3 } from "etcd3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { capabilityCall } from "../../packages/node-agent/src/test-support/guests.js";
import { type EtcdServer, startEtcd } from "../support/etcd.js";
import {
  always,
  count,
  type Daemon,
  EtcdCluster,
  facts,
  never,
  nodesAlive,
  sleep,
  startReactor,
  TEST_HEARTBEAT_MS,
  waitFor,
} from "./harness.js";

/** The lease of a node with a 300 ms heartbeat (leaseTtlSeconds: 3 intervals, at least 2 s). */
const LEASE_TTL_MS = 2_000;
/** etcd looks for expired leases every 500 ms; plus scheduling slack on a busy 2-core machine. */
const EXPIRY_SLACK_MS = 500 + 1_000;

async function instance(client: WasmatrixClient, instanceId: string): Promise<pb.Instance | undefined> {
  const { instances } = await client.listInstances(listRequest());
  return instances.find((i) => i.instanceId === instanceId);
}

/** Waits until every client sees the instance running, on one and the same node; returns that node. */
async function runningEverywhere(
  clients: WasmatrixClient[],
  instanceId: string,
  notOn?: string,
): Promise<string> {
  return waitFor(`${instanceId} running, on the same node, through every control plane`, async () => {
    const seen = await Promise.all(clients.map((c) => instance(c, instanceId)));
    const nodeId = seen[0]?.nodeId;
    const agreed = seen.every((i) => i?.status === "running" && i.nodeId === nodeId);
    return agreed && nodeId !== undefined && nodeId !== notOn ? nodeId : undefined;
  });
}

describe("three node agents and two control planes meeting through one etcd", () => {
  let etcd: EtcdServer;
  let cluster: EtcdCluster;
  let cpA: Daemon;
  let cpB: Daemon;
  let a: WasmatrixClient;
  let b: WasmatrixClient;
  const nodes = new Map<string, Daemon>();

  beforeAll(async () => {
    etcd = await startEtcd();
    cluster = new EtcdCluster({ endpoints: etcd.endpoints });
    const started = await Promise.all([
      cluster.controlPlane(),
      cluster.controlPlane(),
      cluster.nodeAgent("n1", { zone: "a" }),
      cluster.nodeAgent("n2", { zone: "b" }),
      cluster.nodeAgent("n3", { zone: "c" }),
    ]);
    [cpA, cpB] = started;
    for (const [i, id] of ["n1", "n2", "n3"].entries()) nodes.set(id, started[i + 2]!);
    a = cluster.client(cpA.address);
    b = cluster.client(cpB.address);
    await Promise.all([nodesAlive(a, ["n1", "n2", "n3"]), nodesAlive(b, ["n1", "n2", "n3"])]);
  });
  afterAll(async () => {
    await cluster?.close();
    await etcd?.stop();
  });

  it("shows instances started through either control plane through both", async () => {
    expect(
      (
        await startReactor(a, {
          instanceId: "keeper",
          restartPolicy: always,
          preferredNodeLabels: { zone: "c" },
        })
      ).nodeId,
    ).toBe("n3");
    expect(
      (
        await startReactor(b, {
          instanceId: "goner",
          restartPolicy: never,
          preferredNodeLabels: { zone: "c" },
        })
      ).nodeId,
    ).toBe("n3");
    expect(
      (
        await startReactor(b, {
          instanceId: "steady",
          restartPolicy: always,
          requiredNodeLabels: { zone: "a" },
        })
      ).nodeId,
    ).toBe("n1");
    for (const id of ["keeper", "goner", "steady"]) await runningEverywhere([a, b], id);
    // One instance, whichever control plane routes the call: its counter is shared.
    expect(await count(b, "keeper")).toBe(1);
    expect(await count(a, "keeper")).toBe(2);
    expect(await count(a, "steady")).toBe(1);
    // Facts recorded on the nodes reach both control planes (they pull them with ListFacts).
    await waitFor("instance.started of keeper on both control planes", async () => {
      const [fa, fb] = await Promise.all([facts(a, ["instance.started"]), facts(b, ["instance.started"])]);
      const has = (fs: pb.Fact[]) => fs.some((f) => f.instanceId === "keeper" && f.nodeId === "n3");
      return has(fa) && has(fb) ? true : undefined;
    });
  });

  it("loses a node killed outright when its lease expires, on both control planes, and runs its `always` instance again exactly once", async () => {
    const { sentAt } = await nodes.get("n3")!.kill("SIGKILL");
    const lost = await Promise.all(
      [a, b].map((client) =>
        waitFor(
          `node.lost of n3 at ${client.address}`,
          async () => (await facts(client, ["node.lost"])).find((f) => f.nodeId === "n3"),
          { timeoutMs: LEASE_TTL_MS + EXPIRY_SLACK_MS + 3_000 },
        ),
      ),
    );
    const afterMs = lost.map((f) => f.atMs - sentAt);
    console.log(`[etcd] node.lost of n3 ${afterMs.join(" / ")} ms after kill -9 (lease ${LEASE_TTL_MS} ms)`);
    for (const ms of afterMs) {
      // Not before the lease could have run out (a keep-alive is sent every TTL/3), nor long after.
      expect(ms).toBeGreaterThanOrEqual((LEASE_TTL_MS * 2) / 3 - 100);
      expect(ms).toBeLessThanOrEqual(LEASE_TTL_MS + EXPIRY_SLACK_MS);
    }
    expect(await new Etcd3Once(etcd).get(nodeKey("n3"))).toBeNull();

    for (const client of [a, b]) {
      const instanceLost = (await facts(client, ["instance.lost"])).filter((f) => f.nodeId === "n3");
      expect(instanceLost.map((f) => f.instanceId).sort()).toEqual(["goner", "keeper"]);
      expect((await instance(client, "goner"))?.status).toBe("lost");
    }
    const movedTo = await runningEverywhere([a, b], "keeper", "n3");
    // A fresh instance (its counter starts over), and only one: both control planes reacted to
    // the same expiry, chose the same node, and the node refused the second start.
    expect(await count(b, "keeper")).toBe(1);
    expect(await count(a, "keeper")).toBe(2);
    const copies = await Promise.all(
      ["n1", "n2"].map(async (id) => {
        const { instances } = await cluster.node(nodes.get(id)!.address).listInstances(listRequest());
        return instances.filter((i) => i.instanceId === "keeper" && !isEnded(i.status)).map(() => id);
      }),
    );
    expect(copies.flat()).toEqual([movedTo]);
    const refusals = [cpA, cpB].flatMap((cp) =>
      cp
        .stderr()
        .split("\n")
        .filter((line) => line.includes("could not start a lost instance elsewhere")),
    );
    expect(refusals).toHaveLength(1);
    expect(refusals[0]).toMatch(/already/);
    expect([cpA, cpB].map((cp) => cp.child.exitCode)).toEqual([null, null]);
  });

  it("lets a node that stops on SIGTERM leave without being lost or moving its instances", async () => {
    const n4 = await cluster.nodeAgent("n4", { zone: "d" });
    await Promise.all([nodesAlive(a, ["n4"]), nodesAlive(b, ["n4"])]);
    await startReactor(a, {
      instanceId: "parting",
      restartPolicy: always,
      requiredNodeLabels: { zone: "d" },
    });
    await runningEverywhere([a, b], "parting");

    const { code } = await n4.kill("SIGTERM");
    expect(code).toBe(0);
    expect(await new Etcd3Once(etcd).get(nodeKey("n4"))).toBeNull();
    for (const client of [a, b]) {
      await waitFor(`n4 gone from ${client.address}`, async () =>
        (await client.listNodes()).nodes.some((n) => n.nodeId === "n4") ? undefined : true,
      );
    }
    // Give a wrongly triggered failover the time it would take to show.
    await sleep(3 * TEST_HEARTBEAT_MS);
    for (const client of [a, b]) {
      expect((await facts(client, ["node.lost"])).filter((f) => f.nodeId === "n4")).toEqual([]);
      expect((await facts(client, ["instance.lost"])).filter((f) => f.instanceId === "parting")).toEqual([]);
      expect(await instance(client, "parting")).toBeUndefined();
    }
  });

  it("keeps answering through one control plane when the other is killed", async () => {
    await cpA.kill("SIGKILL");
    await expect(a.serverInfo()).rejects.toThrow();
    const { instances } = await b.listInstances(listRequest({ status: "running" }));
    expect(instances.map((i) => i.instanceId).sort()).toEqual(["keeper", "steady"]);
    expect(await count(b, "keeper")).toBe(3);
    const started = await startReactor(b, { instanceId: "after-cp-loss" });
    expect(started, JSON.stringify(started.lastOutcome)).toMatchObject({ status: "running" });
    expect(await count(b, "after-cp-loss")).toBe(1);
  });

  it("keeps instances running through an etcd outage longer than the leases, and nodes register again", async () => {
    const before = await leasesOf(etcd);
    expect([...before.keys()].sort()).toEqual(["n1", "n2"]);
    const outageStartedAt = Date.now();
    await etcd.halt();
    // Long enough for the nodes' etcd clients to give their 2 s leases up (after 2 × TTL without
    // a keep-alive), so they must grant new ones when etcd is back.
    let last = await count(b, "steady");
    while (Date.now() - outageStartedAt < 2 * LEASE_TTL_MS + 1_000) {
      const next = await count(b, "steady");
      expect(next).toBe(last + 1);
      last = next;
      await sleep(200);
    }
    await etcd.start();
    const after = await waitFor(
      "n1 and n2 under new leases",
      async () => {
        const leases = await leasesOf(etcd);
        const renewed = ["n1", "n2"].every((id) => leases.has(id) && leases.get(id) !== before.get(id));
        return renewed ? leases : undefined;
      },
      { timeoutMs: 10_000 },
    );
    expect([...after.keys()].sort()).toEqual(["n1", "n2"]);
    const next = await count(b, "steady");
    expect(next).toBe(last + 1);
    const steady = await instance(b, "steady");
    expect(steady).toMatchObject({ status: "running", nodeId: "n1", restarts: 0 });
    await nodesAlive(b, ["n1", "n2"]);
    const lostSince = (await facts(b, ["node.lost", "instance.lost", "instance.restarted"])).filter(
      (f) => f.atMs >= outageStartedAt,
    );
    expect(lostSince).toEqual([]);
  });

  it("holds nothing in etcd but node and provider keys after a busy run", async () => {
    // A provider process keeps its record in etcd; the control plane still up (a was killed
    // above) finds it there and offers it to nodes.
    await cluster.provider("keyvalue", "kv-1");
    await waitFor("kv-1 listed by the control plane", async () =>
      (await b.listProviders()).providers.some((p) => p.providerId === "kv-1" && p.status === "alive")
        ? true
        : undefined,
    );
    await startReactor(b, {
      instanceId: "kv-user",
      assignments: [
        { capability: "keyvalue", provider: "kv-1", binding: "default", permissions: ["kv:write"] },
      ],
    });
    const increment = () =>
      b.invoke({
        instanceId: "kv-user",
        operation: "call",
        payload: Buffer.from(capabilityCall("default", "wasmatrix:keyvalue", "increment", { key: "k" })),
      });
    await waitFor("kv-user reaches kv-1", async () =>
      (await increment()).guestError === "" ? true : undefined,
    );
    expect((await increment()).response.toString()).toBe("2");
    const ids = Array.from({ length: 12 }, (_, i) => `busy-${i}`);
    await Promise.all(ids.map((instanceId) => startReactor(b, { instanceId, restartPolicy: always })));
    await Promise.all(ids.map((id) => count(b, id)));
    await Promise.all(ids.slice(0, 6).map((id) => b.stopInstance(stopRequest(id))));
    await b.assignCapability({
      instanceId: "busy-7",
      assignment: {
        capability: "keyvalue",
        provider: "local",
        binding: "default",
        permissions: ["kv:read", "kv:write"],
      },
    });
    const client = new Etcd3({ hosts: etcd.endpoints });
    try {
      const keys = await client.getAll().keys();
      console.log(`[etcd] every key after the run: ${keys.join(", ")}`);
      expect(keys.length).toBeGreaterThan(0);
      for (const key of keys) {
        expect(key.startsWith(NODES_PREFIX) || key.startsWith(PROVIDERS_PREFIX)).toBe(true);
        expect(parseKey(key)).not.toBeNull();
      }
      expect(keys.sort()).toEqual([nodeKey("n1"), nodeKey("n2"), providerKey("kv-1")]);
      for (const [key, value] of Object.entries(await client.getAll().strings())) {
        expect(Object.keys(JSON.parse(value)).sort()).toEqual(
          key.startsWith(NODES_PREFIX)
            ? ["address", "capabilities", "labels", "maxInstances", "nodeId", "version"]
            : ["address", "capability", "providerId", "version"],
        );
      }
    } finally {
      client.close();
    }
  });
});

/** A short-lived etcd3 client: one made before an etcd restart would carry its circuit-breaker state over. */
class Etcd3Once {
  constructor(private readonly etcd: EtcdServer) {}

  async get(key: string): Promise<string | null> {
    const client = new Etcd3({ hosts: this.etcd.endpoints });
    try {
      return await client.get(key).string();
    } finally {
      client.close();
    }
  }
}

/** nodeId → the lease its key is held under. */
async function leasesOf(etcd: EtcdServer): Promise<Map<string, string>> {
  const client = new Etcd3({ hosts: etcd.endpoints });
  try {
    const { kvs } = await client.getAll().prefix(NODES_PREFIX).exec();
    return new Map(kvs.map((kv) => [kv.key.toString().slice(NODES_PREFIX.length), String(kv.lease)]));
  } finally {
    client.close();
  }
}

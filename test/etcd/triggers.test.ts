import { connect, startRequest, type WasmatrixClient } from "@wasmatrix/client";
import {
  type ControlPlaneDaemon,
  type NodeDaemon,
  startControlPlaneDaemon,
  startNodeDaemon,
} from "@wasmatrix/daemons";
import * as pb from "@wasmatrix/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { guests } from "../../packages/node-agent/src/test-support/guests.js";
import { type EtcdServer, startEtcd } from "../support/etcd.js";
import { nodesAlive, waitFor } from "./harness.js";

const HEARTBEAT_MS = 200;

/**
 * Cron triggers with several control planes on one real etcd: every control plane schedules
 * every trigger, and each tick is claimed there, so it fires once; definitions live in etcd, so
 * they survive a control plane's restart and reach every control plane.
 */
describe("cron triggers with two control planes on etcd", () => {
  let etcd: EtcdServer;
  let node: NodeDaemon;
  const planes: ControlPlaneDaemon[] = [];
  const clients: WasmatrixClient[] = [];

  const startPlane = async () => {
    const cp = await startControlPlaneDaemon({
      listen: "127.0.0.1:0",
      etcdEndpoints: etcd.endpoints,
      heartbeatIntervalMs: HEARTBEAT_MS,
    });
    planes.push(cp);
    const client = connect(cp.address, { timeoutMs: 10_000 });
    clients.push(client);
    await nodesAlive(client, ["tick-node"]);
    return { cp, client };
  };

  /** Ticks fired for `trigger` by every control plane given, as "scheduledAt" values. */
  const ticks = (among: ControlPlaneDaemon[], trigger: string) =>
    among.flatMap((cp) =>
      cp.controlPlane.facts
        .query({ kind: "trigger.fired" })
        .filter((f) => (f.data as { trigger: string }).trigger === trigger)
        .map((f) => (f.data as { scheduledAt: number; outcome: string }).scheduledAt),
    );

  beforeAll(async () => {
    etcd = await startEtcd();
    node = await startNodeDaemon({
      nodeId: "tick-node",
      listen: "127.0.0.1:0",
      etcdEndpoints: etcd.endpoints,
      heartbeatIntervalMs: HEARTBEAT_MS,
      providers: [],
    });
  }, 60_000);
  afterAll(async () => {
    for (const client of clients) client.close();
    await Promise.all(planes.map((cp) => cp.close()));
    await node?.close(0);
    await etcd?.stop();
  }, 60_000);

  it("fire each tick once across both control planes, and keep firing after one restarts", async () => {
    const one = await startPlane();
    const two = await startPlane();
    await one.client.startInstance(
      startRequest({ instanceId: "counter", module: Buffer.from(await guests.proxy()) }),
    );
    const added = await one.client.addTrigger({
      trigger: pb.Trigger.fromPartial({
        name: "tick",
        cron: "*/1 * * * * *",
        targetInstanceId: "counter",
        operation: "count",
      }),
    });
    expect(added.nextFireAtMs).toBeGreaterThan(0);
    // The other control plane learns it from etcd.
    await waitFor("the trigger on the second control plane", async () =>
      (await two.client.listTriggers()).triggers.some((t) => t.name === "tick") ? true : undefined,
    );
    await waitFor(
      "four ticks",
      () => (new Set(ticks([one.cp, two.cp], "tick")).size >= 4 ? true : undefined),
      {
        timeoutMs: 30_000,
      },
    );
    const fired = ticks([one.cp, two.cp], "tick");
    expect(fired.length).toBe(new Set(fired).size);
    for (const at of fired) expect(at % 1_000).toBe(0);
    const outcomes = [one.cp, two.cp].flatMap((cp) =>
      cp.controlPlane.facts
        .query({ kind: "trigger.fired" })
        .map((f) => (f.data as { outcome: string }).outcome),
    );
    expect(new Set(outcomes)).toEqual(new Set(["ok"]));

    // A restart: the first control plane goes away, a new one reads the trigger from etcd.
    await one.cp.close();
    const three = await startPlane();
    const listed = await three.client.listTriggers();
    expect(listed.triggers.map((t) => t.name)).toEqual(["tick"]);
    expect(listed.triggers[0]).toMatchObject({
      cron: "*/1 * * * * *",
      targetInstanceId: "counter",
      operation: "count",
    });
    const before = Math.max(...ticks([one.cp, two.cp], "tick"));
    await waitFor(
      "ticks after the restart",
      () => (ticks([two.cp, three.cp], "tick").filter((at) => at > before).length >= 3 ? true : undefined),
      { timeoutMs: 30_000 },
    );
    const all = ticks([one.cp, two.cp, three.cp], "tick");
    expect(all.length).toBe(new Set(all).size);

    // The name is taken for every control plane.
    const again = await two.client
      .addTrigger({
        trigger: pb.Trigger.fromPartial({
          name: "tick",
          cron: "* * * * *",
          targetInstanceId: "counter",
          operation: "count",
        }),
      })
      .then(
        () => null,
        (error: { code?: string }) => error.code,
      );
    expect(again).toBe("ALREADY_EXISTS");

    // Removed on one control plane: gone from the other, and no more ticks.
    await three.client.removeTrigger({ name: "tick" });
    await waitFor("the removal on the second control plane", async () =>
      (await two.client.listTriggers()).triggers.length === 0 ? true : undefined,
    );
  }, 120_000);
});

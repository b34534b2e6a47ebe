import { connect, listRequest, startRequest, type WasmatrixClient } from "@wasmatrix/client";
import {
  type ControlPlaneDaemon,
  type NodeDaemon,
  startControlPlaneDaemon,
  startNodeDaemon,
} from "@wasmatrix/daemons";
import { LocalNodeApi } from "@wasmatrix/node-agent";
import type * as pb from "@wasmatrix/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { guests } from "../../packages/node-agent/src/test-support/guests.js";
import { type EtcdServer, startEtcd } from "../support/etcd.js";
import { nodesAlive, waitFor } from "./harness.js";

const HEARTBEAT_MS = 200;

/**
 * The rule several control planes agree on when one instance runs on two nodes (they placed a
 * lost instance differently): the copy on the node with the smaller id stays. Provoked here by
 * starting the instance on a node directly, behind the control plane's back, in-process.
 */
describe("an instance that runs on two etcd nodes", () => {
  let etcd: EtcdServer;
  let cp: ControlPlaneDaemon;
  let client: WasmatrixClient;
  const nodes = new Map<string, NodeDaemon>();
  let module: Buffer;

  beforeAll(async () => {
    etcd = await startEtcd();
    module = Buffer.from(await guests.proxy());
    for (const nodeId of ["dup-a", "dup-b"]) {
      nodes.set(
        nodeId,
        await startNodeDaemon({
          nodeId,
          listen: "127.0.0.1:0",
          etcdEndpoints: etcd.endpoints,
          heartbeatIntervalMs: HEARTBEAT_MS,
          labels: { name: nodeId },
          providers: [],
        }),
      );
    }
    cp = await startControlPlaneDaemon({
      listen: "127.0.0.1:0",
      etcdEndpoints: etcd.endpoints,
      heartbeatIntervalMs: HEARTBEAT_MS,
    });
    client = connect(cp.address, { timeoutMs: 10_000 });
    await nodesAlive(client, ["dup-a", "dup-b"]);
  });
  afterAll(async () => {
    client?.close();
    await cp?.close();
    await Promise.all([...nodes.values()].map((n) => n.close(0)));
    await etcd?.stop();
  });

  /** Starts the instance on a node directly, as another control plane would have. */
  const startBehindTheBack = (nodeId: string, instanceId: string) =>
    new LocalNodeApi(nodes.get(nodeId)!.agent).startInstance(
      startRequest({ instanceId, module, restartPolicy: { policy: { $case: "always", value: {} } } }),
    );

  const running = async (nodeId: string, instanceId: string) =>
    nodes
      .get(nodeId)!
      .agent.list()
      .some((v) => v.instanceId === instanceId && v.status === "running");

  const settled = (instanceId: string, on: string, off: string) =>
    waitFor(`${instanceId} on ${on} only, and the control plane agreeing`, async () => {
      const { instances } = await client.listInstances(listRequest());
      const seen: pb.Instance | undefined = instances.find((i) => i.instanceId === instanceId);
      const ok =
        (await running(on, instanceId)) &&
        !(await running(off, instanceId)) &&
        seen?.nodeId === on &&
        seen.status === "running";
      return ok ? true : undefined;
    });

  it("keeps the copy on the smaller node id when the control plane placed it on the larger", async () => {
    await client.startInstance(
      startRequest({ instanceId: "twice-1", module, requiredNodeLabels: { name: "dup-b" } }),
    );
    await startBehindTheBack("dup-a", "twice-1");
    await settled("twice-1", "dup-a", "dup-b");
  });

  it("keeps the copy on the smaller node id when the control plane placed it there", async () => {
    await client.startInstance(
      startRequest({ instanceId: "twice-2", module, requiredNodeLabels: { name: "dup-a" } }),
    );
    await startBehindTheBack("dup-b", "twice-2");
    await settled("twice-2", "dup-a", "dup-b");
    // And it stays settled: the stopped copy on dup-b does not flip the control plane's view.
    for (let i = 0; i < 5; i++) {
      const { instances } = await client.listInstances(listRequest());
      expect(instances.find((x) => x.instanceId === "twice-2")).toMatchObject({
        nodeId: "dup-a",
        status: "running",
      });
      await new Promise((r) => setTimeout(r, HEARTBEAT_MS / 2));
    }
  });
});

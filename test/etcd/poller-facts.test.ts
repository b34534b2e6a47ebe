import { connect, startRequest, type WasmatrixClient } from "@wasmatrix/client";
import {
  type ControlPlaneDaemon,
  type NodeDaemon,
  startControlPlaneDaemon,
  startNodeDaemon,
} from "@wasmatrix/daemons";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { guests } from "../../packages/node-agent/src/test-support/guests.js";
import { facts, freePort, nodesAlive, waitFor } from "./harness.js";

const HEARTBEAT_MS = 100;

/**
 * The poller that serves etcd nodes (and static lists) reads facts with ListFacts after the last
 * one it saw. A node agent that restarts numbers its facts from 1 again, under a new source: the
 * poller must notice and read the new run from its first fact, not wait for the count to pass
 * where the old run stopped.
 */
describe("a polled node's facts", () => {
  let cp: ControlPlaneDaemon;
  let client: WasmatrixClient;
  let node: NodeDaemon;
  let listen: string;
  let module: Buffer;

  const startNode = () =>
    startNodeDaemon({ nodeId: "polled", listen, heartbeatIntervalMs: HEARTBEAT_MS, providers: [] });

  beforeAll(async () => {
    module = Buffer.from(await guests.proxy());
    listen = `127.0.0.1:${await freePort()}`;
    node = await startNode();
    cp = await startControlPlaneDaemon({
      listen: "127.0.0.1:0",
      staticNodes: [listen],
      heartbeatIntervalMs: HEARTBEAT_MS,
    });
    client = connect(cp.address, { timeoutMs: 10_000 });
    await nodesAlive(client, ["polled"]);
  });
  afterAll(async () => {
    client?.close();
    await cp?.close();
    await node?.close(0);
  });

  const startedFacts = async (instanceId: string) =>
    (await facts(client, ["instance.started"])).filter((f) => f.instanceId === instanceId);

  it("reach the control plane, and a restarted node's are read from its first", async () => {
    for (const instanceId of ["first-1", "first-2", "first-3"]) {
      await client.startInstance(startRequest({ instanceId, module }));
    }
    const [before] = await waitFor("first-3 started, as a fact", async () => {
      const found = await startedFacts("first-3");
      return found.length > 0 ? found : undefined;
    });
    await node.close(0);
    node = await startNode();
    await nodesAlive(client, ["polled"]);
    await client.startInstance(startRequest({ instanceId: "second-1", module }));
    const [after] = await waitFor("second-1 started, as a fact", async () => {
      const found = await startedFacts("second-1");
      return found.length > 0 ? found : undefined;
    });
    // A new run of the node: another source, numbered from the start again.
    expect(after!.source).not.toBe(before!.source);
    expect(after!.sourceSeq).toBeLessThan(before!.sourceSeq);
  });
});

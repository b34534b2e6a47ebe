import { readFile } from "node:fs/promises";
import { connect, startRequest, type WasmatrixClient } from "@wasmatrix/client";
import {
  type ControlPlaneDaemon,
  type NodeDaemon,
  startControlPlaneDaemon,
  startNodeDaemon,
} from "@wasmatrix/daemons";
import * as pb from "@wasmatrix/proto";
import { type InboundMessage, MessagingProvider } from "@wasmatrix/providers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../cluster/harness.js";
import { type NatsServer, startNats } from "../support/nats.js";

const ECHO = new URL("../../examples/build/echo_reactor.wasm", import.meta.url);

/**
 * A control-plane daemon with `--nats` serves queue triggers for instances on a node agent
 * (that has no messaging of its own), over real gRPC and a real NATS server.
 */
describe("queue triggers on a control-plane daemon with NATS", () => {
  let nats: NatsServer;
  let cp: ControlPlaneDaemon;
  let node: NodeDaemon;
  let client: WasmatrixClient;
  let bus: MessagingProvider;

  beforeAll(async () => {
    nats = await startNats();
    cp = await startControlPlaneDaemon({ listen: "127.0.0.1:0", nats: nats.url, heartbeatIntervalMs: 200 });
    node = await startNodeDaemon({
      nodeId: "worker-node",
      listen: "127.0.0.1:0",
      controlPlane: cp.address,
      heartbeatIntervalMs: 200,
      providers: [],
    });
    client = connect(cp.address, { timeoutMs: 10_000 });
    bus = new MessagingProvider({ nats: { servers: [nats.url] } });
    await waitFor("the node", async () => ((await client.listNodes()).nodes.length === 1 ? true : undefined));
    await client.startInstance(startRequest({ instanceId: "worker", module: await readFile(ECHO) }));
  }, 60_000);
  afterAll(async () => {
    client?.close();
    await bus?.close();
    await node?.close(0);
    await cp?.close();
    await nats?.stop();
  }, 60_000);

  it("delivers messages to the instance and dead-letters those that keep failing", async () => {
    const dead: InboundMessage[] = [];
    await bus.subscribe("dead.cp", undefined, async (m) => void dead.push(m));
    const trigger = (name: string, subject: string, operation: string) =>
      client.addTrigger({
        trigger: pb.Trigger.fromPartial({
          name,
          queueSubject: subject,
          targetInstanceId: "worker",
          operation,
          deadLetterSubject: "dead.cp",
          maxAttempts: 2,
        }),
      });
    await trigger("ok", "cp.ok", "echo");
    await trigger("bad", "cp.bad", "fail");
    await bus.publish("cp.ok", Buffer.from("fine"));
    await bus.publish("cp.bad", Buffer.from("broken"));
    await waitFor(
      "a delivery",
      async () =>
        (await client.listTriggers()).triggers.find((t) => t.name === "ok")?.counters?.fired === 1
          ? true
          : undefined,
      { timeoutMs: 30_000 },
    );
    const letter = await waitFor("a dead letter", () => dead[0], { timeoutMs: 30_000 });
    expect(Buffer.from(letter.data).toString()).toBe("broken");
    expect(letter.headers["Wasmatrix-Attempts"]).toBe("2");
    expect(dead).toHaveLength(1);
  }, 90_000);
});

import { readFile } from "node:fs/promises";
import { invokeRequest, startRequest } from "@wasmatrix/client";
import { createEmbedded, type Embedded } from "@wasmatrix/embedded";
import * as pb from "@wasmatrix/proto";
import type { InboundMessage, InProcessBus, MessagingProvider } from "@wasmatrix/providers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type NatsServer, startNats } from "../support/nats.js";

const ECHO = new URL("../../examples/build/echo_reactor.wasm", import.meta.url);

type Bus = InProcessBus | MessagingProvider;

async function until<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const setups: [string, () => Promise<{ embedded: Embedded; close(): Promise<void> }>][] = [
  [
    "the in-process bus of up",
    async () => {
      const embedded = await createEmbedded({ node: { runtime: { workers: 1 } } });
      return { embedded, close: () => embedded.close() };
    },
  ],
  [
    "NATS",
    async () => {
      const nats: NatsServer = await startNats();
      const embedded = await createEmbedded({ nats: nats.url, node: { runtime: { workers: 1 } } });
      return {
        embedded,
        close: async () => {
          await embedded.close();
          await nats.stop();
        },
      };
    },
  ],
];

describe.each(setups)("queue triggers on %s", (_, setup) => {
  let embedded: Embedded;
  let close: () => Promise<void>;
  let bus: Bus;

  beforeAll(async () => {
    ({ embedded, close } = await setup());
    bus = embedded.agent.providers.get("messaging") as unknown as Bus;
    const module = await readFile(ECHO);
    await embedded.client.startInstance({
      ...startRequest({ instanceId: "worker", module }),
      labels: { app: "worker" },
    });
  }, 60_000);
  afterAll(async () => close?.(), 30_000);

  const add = (trigger: Partial<pb.Trigger>) =>
    embedded.client.addTrigger({
      trigger: pb.Trigger.fromPartial({ targetInstanceId: "worker", ...trigger }),
    });
  const counters = async (name: string) =>
    (await embedded.client.listTriggers()).triggers.find((t) => t.name === name)?.counters;

  it("invokes the target once per message, for subjects matching a wildcard", async () => {
    await add({ name: "orders", queueSubject: "orders.*", operation: "count" });
    const before = Number(
      Buffer.from((await embedded.client.invoke(invokeRequest("worker", "count"))).response),
    );
    for (const id of ["1", "2", "3"]) await bus.publish(`orders.${id}`, Buffer.from(`order ${id}`));
    await bus.publish("other.1", Buffer.from("not for the trigger"));
    await until("three deliveries", async () => ((await counters("orders"))?.fired === 3 ? true : undefined));
    const after = Number(
      Buffer.from((await embedded.client.invoke(invokeRequest("worker", "count"))).response),
    );
    expect(after - before).toBe(3 + 1);
    const removed = await embedded.client.removeTrigger({ name: "orders" });
    expect(removed.name).toBe("orders");
  }, 60_000);

  it("delivers to the running instance a label target selects", async () => {
    await add({
      name: "by-label",
      queueSubject: "labelled",
      targetInstanceId: "",
      targetLabels: { app: "worker" },
      operation: "echo",
    });
    await bus.publish("labelled", Buffer.from("hello"));
    await until("one delivery", async () => ((await counters("by-label"))?.fired === 1 ? true : undefined));
    await embedded.client.removeTrigger({ name: "by-label" });
  }, 60_000);

  it("retries a failing message and then publishes it to the dead-letter subject", async () => {
    const dead: InboundMessage[] = [];
    const sub = await bus.subscribe("dead.jobs", undefined, async (m) => void dead.push(m));
    try {
      await add({
        name: "jobs",
        queueSubject: "jobs.>",
        operation: "fail",
        deadLetterSubject: "dead.jobs",
        maxAttempts: 3,
      });
      await bus.publish("jobs.a.b", Buffer.from("payload-1"));
      const letter = await until("a dead letter", () => dead[0]);
      expect(Buffer.from(letter.data).toString()).toBe("payload-1");
      expect(letter.headers["Wasmatrix-Attempts"]).toBe("3");
      expect(letter.headers["Wasmatrix-Error-Kind"]).toBe("guest_error");
      expect(letter.headers["Wasmatrix-Subject"]).toBe("jobs.a.b");
      const seen = await until("counters", async () => {
        const c = await counters("jobs");
        return c?.deadLettered === 1 ? c : undefined;
      });
      expect(seen).toMatchObject({ retried: 2, deadLettered: 1, fired: 0 });
    } finally {
      await sub.unsubscribe();
      await embedded.client.removeTrigger({ name: "jobs" });
    }
  }, 60_000);

  it("dead-letters messages whose target is not running", async () => {
    const dead: InboundMessage[] = [];
    const sub = await bus.subscribe("dead.nobody", undefined, async (m) => void dead.push(m));
    try {
      await add({
        name: "nobody",
        queueSubject: "nobody",
        targetInstanceId: "",
        targetLabels: { app: "absent" },
        operation: "echo",
        deadLetterSubject: "dead.nobody",
        maxAttempts: 2,
      });
      await bus.publish("nobody", Buffer.from("x"));
      const letter = await until("a dead letter", () => dead[0]);
      expect(letter.headers["Wasmatrix-Error-Code"]).toBe("FAILED_PRECONDITION");
    } finally {
      await sub.unsubscribe();
      await embedded.client.removeTrigger({ name: "nobody" });
    }
  }, 60_000);
});

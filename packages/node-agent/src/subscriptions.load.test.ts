import { parsePermission } from "@wasmatrix/core";
import { MessagingProvider } from "@wasmatrix/providers";
import { connect, type NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type NatsServer, startNats } from "../../../test/support/nats.js";
import { NodeAgent } from "./agent.js";
import { type Invoker, SubscriptionManager } from "./subscriptions.js";
import { guests } from "./test-support/guests.js";

const MESSAGES = 100_000;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * The load test: 100,000 messages through one subscribed reactor. Durable delivery is at
 * least once; a message is delivered again only when its acknowledgement is lost (a node or NATS
 * failure), and this run has none, so every message must arrive exactly once.
 */
describe("messaging load", () => {
  let server: NatsServer;
  let raw: NatsConnection;
  let provider: MessagingProvider;
  let agent: NodeAgent;
  let subs: SubscriptionManager;

  beforeAll(async () => {
    server = await startNats({ jetstream: true });
    raw = await connect({ servers: server.url });
    provider = new MessagingProvider({ nats: { servers: server.url } });
    agent = new NodeAgent({ nodeId: "load", runtime: { workers: 1 }, providers: [provider] });
    await agent.start({ instanceId: "sink", module: await guests.proxy() });
  });
  afterAll(async () => {
    await subs?.close();
    await agent.close(200);
    await raw.close();
    await server.stop();
  });

  it("delivers 100,000 messages to a subscribed instance, none lost, none twice", async () => {
    const seen = new Uint8Array(MESSAGES);
    let invocations = 0;
    const counting: Invoker = {
      async invoke(id, operation, payload) {
        const result = await agent.invoke(id, operation, payload);
        if (result.outcome.status === "ok" && result.guestError === undefined) {
          invocations++;
          const n = Number(decoder.decode(payload));
          seen[n] = Math.min(255, (seen[n] ?? 0) + 1);
        }
        return result;
      },
    };
    subs = new SubscriptionManager(counting, provider);
    await subs.subscribe(
      "sink",
      // The proxy guest's `count` bumps a counter in its memory: the guest's own tally. Sixteen
      // invocations in flight let the runtime batch them (10.6k messages/s here, against 5.6k
      // one at a time); the instance still runs them one after another, in order.
      { subject: "load.items", operation: "count", payload: "raw", maxInFlight: 16 },
      [
        {
          capability: "messaging",
          provider: "local",
          binding: "default",
          permissions: [parsePermission("msg:subscribe:load.>")],
        },
      ],
    );

    const started = performance.now();
    for (let i = 0; i < MESSAGES; i++) {
      raw.publish("load.items", encoder.encode(String(i)));
      if (i % 5_000 === 4_999) await raw.flush();
    }
    await raw.flush();
    const published = performance.now();
    const deadline = Date.now() + 60_000;
    while (invocations < MESSAGES && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 50));
    const finished = performance.now();
    // Anything late would show up as a duplicate or an overshoot here.
    await new Promise((resolve) => setTimeout(resolve, 300));

    const lost = seen.reduce((n, count) => n + (count === 0 ? 1 : 0), 0);
    const twice = seen.reduce((n, count) => n + (count > 1 ? 1 : 0), 0);
    expect({ lost, twice, invocations }).toEqual({ lost: 0, twice: 0, invocations: MESSAGES });
    expect(subs.counters("sink")).toEqual({ delivered: MESSAGES, retried: 0, deadLettered: 0, dropped: 0 });
    const tally = await agent.invoke("sink", "count", new Uint8Array());
    expect(new DataView(tally.response!.buffer, tally.response!.byteOffset).getUint32(0, true)).toBe(
      MESSAGES + 1,
    );

    const seconds = (finished - started) / 1000;
    process.stdout.write(
      `messaging load: ${MESSAGES} messages published in ${((published - started) / 1000).toFixed(2)} s, ` +
        `all invoked after ${seconds.toFixed(2)} s (${Math.round(MESSAGES / seconds)} messages/s)\n`,
    );
  }, 90_000);
});

import { connect, type NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type NatsServer, startNats } from "../../../test/support/nats.js";
import type { DurableSink } from "./jetstream-pull.js";
import type { DurableSubscription } from "./message-stream.js";
import { type InboundMessage, MessagingProvider } from "./messaging.js";
import { DEFAULT_MESSAGE_STREAM } from "./stream-admin.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

async function until(condition: () => boolean, timeoutMs = 10_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A sink that acknowledges at once and records what it got. */
function recordingSink(got: InboundMessage[], capacity = 100): DurableSink {
  return {
    room: async () => capacity,
    accept: (m) => {
      got.push(m);
      m.ack();
    },
    done: () => undefined,
  };
}

describe("durable subscriptions on a real nats-server", () => {
  let server: NatsServer;
  let provider: MessagingProvider;
  let raw: NatsConnection;

  beforeAll(async () => {
    server = await startNats({ jetstream: true });
    provider = new MessagingProvider({
      nats: { servers: server.url, unavailableAfterMs: 1_000, reconnectTimeWaitMs: 100 },
    });
    raw = await connect({ servers: server.url, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
  });
  afterAll(async () => {
    await provider.close();
    await raw.close();
    await server.stop();
  });

  it("delivers to overlapping subscriptions exactly the messages each one matches", async () => {
    const left: InboundMessage[] = [];
    const right: InboundMessage[] = [];
    const a = await provider.subscribeDurable({ subject: "ov.*.c", durable: "left" }, recordingSink(left));
    const b = await provider.subscribeDurable({ subject: "ov.b.*", durable: "right" }, recordingSink(right));
    for (const subject of ["ov.b.c", "ov.x.c", "ov.b.x", "ov.x.x"])
      raw.publish(subject, encoder.encode(subject));
    await raw.flush();
    await until(() => left.length === 2 && right.length === 2, 15_000, "both subscribers");
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(left.map((m) => m.subject).sort()).toEqual(["ov.b.c", "ov.x.c"]);
    expect(right.map((m) => m.subject).sort()).toEqual(["ov.b.c", "ov.b.x"]);
    // A core request on a captured subject still reaches its real responder, not the stream.
    const responder = raw.subscribe("ov.b.c", { callback: (_e, m) => m.respond(encoder.encode("real")) });
    await raw.flush();
    const reply = await raw.request("ov.b.c", encoder.encode("q"), { timeout: 2_000 });
    expect(decoder.decode(reply.data)).toBe("real");
    responder.unsubscribe();
    await a.remove();
    await b.remove();
  });

  it("keeps messages published while nobody pulls, for the same durable to resume", async () => {
    const first: InboundMessage[] = [];
    const sub = await provider.subscribeDurable(
      { subject: "resume.x", durable: "resumer" },
      recordingSink(first),
    );
    raw.publish("resume.x", encoder.encode("0"));
    await raw.flush();
    await until(() => first.length === 1, 15_000, "the first message");
    await sub.unsubscribe();
    for (let i = 1; i <= 5; i++) raw.publish("resume.x", encoder.encode(String(i)));
    await raw.flush();
    const later: InboundMessage[] = [];
    const again = await provider.subscribeDurable(
      { subject: "resume.x", durable: "resumer" },
      recordingSink(later),
    );
    await until(() => later.length === 5, 15_000, "the backlog");
    expect(later.map((m) => decoder.decode(m.data))).toEqual(["1", "2", "3", "4", "5"]);
    await again.remove();
  });

  it("hands the next subscriber at once what is published right after an unsubscribe", async () => {
    // The ack wait is far beyond the wait for delivery: a message that went to the stopped
    // subscription and came back once its ack wait ran out could not make the test pass. A pull
    // left behind takes the messages only when the server handles the publishes before the
    // unsubscription, sent earlier on another connection: about one try in ten, hence the rounds.
    const spec = { subject: "handover.x", durable: "handover", ackWaitMs: 60_000 };
    const jsm = await raw.jetstreamManager();
    const perRound = 10;
    let got: InboundMessage[] = [];
    let sub = await provider.subscribeDurable(spec, recordingSink(got));
    for (let round = 0; round < 40; round++) {
      // Idle, with a pull waiting on the server.
      for (let deadline = Date.now() + 5_000; ; ) {
        if ((await jsm.consumers.info(DEFAULT_MESSAGE_STREAM, sub.consumer)).num_waiting > 0) break;
        if (Date.now() > deadline) throw new Error("the subscription never had a pull waiting");
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await sub.unsubscribe();
      const sent = Array.from({ length: perRound }, (_, i) => `${round}-${i}`);
      for (const data of sent) raw.publish("handover.x", encoder.encode(data));
      await raw.flush();
      got = [];
      sub = await provider.subscribeDurable(spec, recordingSink(got));
      await until(() => got.length >= perRound, 10_000, `the messages published in round ${round}`);
      expect(got.map((m) => decoder.decode(m.data)).sort()).toEqual(sent.sort());
    }
    await sub.remove();
  });

  it("leaves the messages on their way to a stopping subscription to the next one", async () => {
    // As above, only a redelivery without waiting for the ack wait arrives in time.
    const spec = { subject: "inflight.x", durable: "inflight", ackWaitMs: 60_000 };
    const count = 500;
    const first: string[] = [];
    let stopping: Promise<void> | undefined;
    let sub: DurableSubscription | undefined;
    let granted = 0;
    let handedBack = 0;
    sub = await provider.subscribeDurable(spec, {
      // One pull takes them all: the server sends them while the subscription stops.
      room: async () => {
        granted += count;
        return count;
      },
      accept: (m) => {
        first.push(decoder.decode(m.data));
        m.ack();
        stopping ??= sub?.unsubscribe();
      },
      done: (unused) => {
        handedBack += unused;
      },
    });
    for (let i = 0; i < count; i++) raw.publish("inflight.x", encoder.encode(String(i)));
    await raw.flush();
    await until(() => stopping !== undefined, 10_000, "the first message");
    await stopping;
    const later: string[] = [];
    const again = await provider.subscribeDurable(spec, {
      room: async () => count,
      accept: (m) => {
        later.push(decoder.decode(m.data));
        m.ack();
      },
      done: () => undefined,
    });
    await until(() => first.length + later.length >= count, 10_000, "the messages the first one left");
    expect(new Set([...first, ...later])).toEqual(
      new Set(Array.from({ length: count }, (_, i) => String(i))),
    );
    // Nothing reached the sink after it was told to stop, and the room it gave is all accounted for.
    expect(first).toHaveLength(1);
    expect(granted - handedBack).toBe(first.length);
    await again.remove();
  });

  it("never pulls more than the sink has room for, and gets the rest as room frees up", async () => {
    const room = 3;
    const held: InboundMessage[] = [];
    const got: string[] = [];
    let maxHeld = 0;
    let wake = () => {};
    const sink: DurableSink = {
      room: async () => {
        while (held.length >= room) await new Promise<void>((resolve) => (wake = resolve));
        return room - held.length;
      },
      accept: (m) => {
        held.push(m);
        got.push(decoder.decode(m.data));
        maxHeld = Math.max(maxHeld, held.length);
      },
      done: () => undefined,
    };
    const drain = setInterval(() => {
      held.shift()?.ack();
      wake();
    }, 10);
    const sub = await provider.subscribeDurable({ subject: "bp.x", durable: "bp" }, sink);
    for (let i = 0; i < 30; i++) raw.publish("bp.x", encoder.encode(String(i)));
    await raw.flush();
    await until(() => got.length === 30, 10_000, "thirty messages");
    clearInterval(drain);
    expect(maxHeld).toBeLessThanOrEqual(room);
    expect(got).toEqual(Array.from({ length: 30 }, (_, i) => String(i)));
    await sub.remove();
  });

  it("delivers again a message that is not acknowledged within the ack wait", async () => {
    const got: InboundMessage[] = [];
    const sink: DurableSink = {
      room: async () => 10,
      accept: (m) => {
        got.push(m);
        // The first delivery is "lost" (never acknowledged), as if its node had died.
        if (got.length > 1) m.ack();
      },
      done: () => undefined,
    };
    const sub = await provider.subscribeDurable({ subject: "rd.x", durable: "rd", ackWaitMs: 300 }, sink);
    raw.publish("rd.x", encoder.encode("once"));
    await raw.flush();
    await until(() => got.length === 2, 15_000, "a redelivery");
    expect(got.map((m) => [decoder.decode(m.data), m.deliveryCount])).toEqual([
      ["once", 1],
      ["once", 2],
    ]);
    await sub.remove();
  });

  it("resumes after a NATS restart without losing what was published on either side of it", async () => {
    const got: InboundMessage[] = [];
    const sub = await provider.subscribeDurable({ subject: "rs.x", durable: "restarts" }, recordingSink(got));
    for (let i = 0; i < 10; i++) raw.publish("rs.x", encoder.encode(`before-${i}`));
    await raw.flush();
    await until(() => got.length === 10, 15_000, "ten messages");
    await server.restart();
    for (let i = 0; i < 10; i++) {
      // `publish` waits for the reconnection, at most its unavailableAfterMs at a time.
      for (let sent = false; !sent; ) {
        sent = await provider.publish("rs.x", encoder.encode(`after-${i}`)).then(
          () => true,
          () => false,
        );
      }
    }
    await until(() => got.length >= 20, 15_000, "ten more messages");
    const ids = new Set(got.map((m) => decoder.decode(m.data)));
    for (let i = 0; i < 10; i++) {
      expect(ids.has(`before-${i}`)).toBe(true);
      expect(ids.has(`after-${i}`)).toBe(true);
    }
    await sub.remove();
  }, 30_000);
});

import { ErrorCode } from "@wasmatrix/core";
import { rejection } from "@wasmatrix/core/test-support/expect-code";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { InboundMessage } from "./inbound-message.js";
import type { DurableSink } from "./jetstream-pull.js";
import { InProcessBus } from "./memory-bus.js";

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array) => new TextDecoder().decode(data);
const flush = () => new Promise((r) => setTimeout(r, 0));

/** A sink with room for `room` messages at a time that records what it is given. */
function sink(room = 10): DurableSink & { got: InboundMessage[] } {
  const got: InboundMessage[] = [];
  return { got, room: async () => room, accept: (m) => void got.push(m), done: () => undefined };
}

/** An oracle written apart from core's subjectCovers: the pattern as a regular expression. */
function matches(pattern: string, subject: string): boolean {
  const body = pattern
    .split(".")
    .map((t) => (t === "*" ? "[^.]+" : t === ">" ? ".+" : t))
    .join("\\.");
  return new RegExp(`^${body}$`).test(subject);
}

const token = fc.constantFrom("a", "b", "c");
const subject = fc.array(token, { minLength: 1, maxLength: 4 }).map((t) => t.join("."));
const pattern = fc
  .tuple(fc.array(fc.constantFrom("a", "b", "*"), { minLength: 1, maxLength: 3 }), fc.boolean())
  .map(([t, rest]) => (rest ? [...t, ">"] : t).join("."));

describe("the in-process bus", () => {
  it("delivers a message to exactly the subscriptions whose pattern covers its subject", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(pattern, { minLength: 1, maxLength: 5 }), subject, async (patterns, s) => {
        const bus = new InProcessBus();
        const got = patterns.map(() => [] as string[]);
        const subs = await Promise.all(
          patterns.map((p, i) => bus.subscribe(p, undefined, async (m) => void got[i]!.push(m.subject))),
        );
        await bus.publish(s, bytes("x"));
        await flush();
        for (const [i, p] of patterns.entries())
          expect(got[i], `${p} vs ${s}`).toEqual(matches(p, s) ? [s] : []);
        await Promise.all(subs.map((x) => x.unsubscribe()));
        await bus.close();
      }),
      { numRuns: 200 },
    );
  });

  it("gives each message to one member of a queue group", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 30 }),
        async (members, messages) => {
          const bus = new InProcessBus();
          const got: string[] = [];
          for (let i = 0; i < members; i++)
            await bus.subscribe("jobs.*", "workers", async (m) => void got.push(text(m.data)));
          for (let n = 0; n < messages; n++) await bus.publish("jobs.x", bytes(String(n)));
          await flush();
          expect(got.sort()).toEqual(Array.from({ length: messages }, (_, n) => String(n)).sort());
          await bus.close();
        },
      ),
      { numRuns: 50 },
    );
  });

  it("answers a request from a core subscriber, and says when no one is subscribed", async () => {
    const bus = new InProcessBus();
    await bus.subscribe(
      "svc.upper",
      undefined,
      async (m) => void m.respond(bytes(text(m.data).toUpperCase())),
    );
    expect(text(await bus.request("svc.upper", bytes("hi"), 1_000))).toBe("HI");
    expect((await rejection(bus.request("svc.none", bytes("hi"), 1_000))).code).toBe(
      ErrorCode.PROVIDER_UNAVAILABLE,
    );
    await bus.close();
  });

  it("delivers a durable message again after a nak, counting the deliveries, and shares a durable between subscribers", async () => {
    const bus = new InProcessBus();
    const a = sink();
    const b = sink();
    const subA = await bus.subscribeDurable({ subject: "orders.>", durable: "shared" }, a);
    const subB = await bus.subscribeDurable({ subject: "orders.>", durable: "shared" }, b);
    for (let n = 0; n < 6; n++) await bus.publish(`orders.${n}`, bytes(String(n)));
    await flush();
    expect(a.got.length + b.got.length).toBe(6);
    const first = [...a.got, ...b.got].find((m) => m.subject === "orders.0")!;
    expect(first.deliveryCount).toBe(1);
    first.nak();
    await flush();
    const again = [...a.got, ...b.got].filter((m) => m.subject === "orders.0");
    expect(again.map((m) => m.deliveryCount)).toEqual([1, 2]);
    for (const m of [...a.got, ...b.got]) m.ack();
    expect(bus.pending("shared")).toEqual({ waiting: 0, unacked: 0 });
    await subA.unsubscribe();
    await subB.remove();
    expect(bus.pending("shared")).toBeUndefined();
    await bus.close();
  });

  it("keeps a durable consumer's messages while no one pulls, up to its bound, and drops beyond it", async () => {
    const bus = new InProcessBus({ maxPending: 3 });
    const first = await bus.subscribeDurable({ subject: "q", durable: "d" }, sink(0));
    await first.unsubscribe();
    for (let n = 0; n < 5; n++) await bus.publish("q", bytes(String(n)));
    expect(bus.pending("d")).toEqual({ waiting: 3, unacked: 0 });
    expect(bus.dropped).toBe(2);
    const later = sink();
    const second = await bus.subscribeDurable({ subject: "q", durable: "d" }, later);
    await flush();
    expect(later.got.map((m) => text(m.data))).toEqual(["0", "1", "2"]);
    await second.unsubscribe();
    await bus.close();
  });

  it("bounds a slow core subscription's queue and drops what does not fit", async () => {
    const bus = new InProcessBus({ maxQueued: 2 });
    let release = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const got: string[] = [];
    await bus.subscribe("s", undefined, async (m) => {
      await gate;
      got.push(text(m.data));
    });
    for (let n = 0; n < 5; n++) await bus.publish("s", bytes(String(n)));
    release();
    await flush();
    await flush();
    // The first is being handled while two wait; the other two were dropped.
    expect(got).toEqual(["0", "1", "2"]);
    expect(bus.dropped).toBe(2);
    await bus.close();
  });
});

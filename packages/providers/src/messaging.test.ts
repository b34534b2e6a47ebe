import { ErrorCode } from "@wasmatrix/core";
import { connect, type NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type NatsServer, startNats } from "../../../test/support/nats.js";
import { type InboundMessage, MessagingProvider } from "./messaging.js";
import type { ProviderCall } from "./provider.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function call(operation: string, payload: unknown, remainingMs = 5_000): ProviderCall {
  return {
    instanceId: "i",
    binding: "default",
    operation,
    payload: encoder.encode(JSON.stringify(payload)),
    scope: "instance/i",
    remainingMs,
  };
}

async function until(condition: () => boolean, timeoutMs = 10_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("messaging provider on a real nats-server", () => {
  let server: NatsServer;
  let provider: MessagingProvider;
  let raw: NatsConnection;

  beforeAll(async () => {
    server = await startNats({ jetstream: true });
    provider = new MessagingProvider({
      nats: { servers: server.url, unavailableAfterMs: 500, reconnectTimeWaitMs: 100 },
    });
    raw = await connect({ servers: server.url, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
    raw.subscribe("svc.echo", {
      callback: (_e, m) => m.respond(encoder.encode(`echo:${decoder.decode(m.data)}`)),
    });
    await raw.flush();
  });
  afterAll(async () => {
    await provider.close();
    await raw.close();
    await server.stop();
  });

  it("asks for msg:publish on the named subject and refuses patterns, bad subjects and unknown operations", () => {
    const payload = (p: unknown) => encoder.encode(JSON.stringify(p));
    expect(provider.required("publish", payload({ subject: "orders.created", data: "x" }))).toEqual({
      kind: "msg",
      action: "publish",
      subject: "orders.created",
    });
    expect(provider.required("request", payload({ subject: "svc.echo", data: "" }))).toEqual({
      kind: "msg",
      action: "publish",
      subject: "svc.echo",
    });
    for (const subject of ["orders.*", "orders.>", "a..b", "", ".a", "has space", 7]) {
      expect(() => provider.required("publish", payload({ subject, data: "x" })), String(subject)).toThrow(
        expect.objectContaining({ code: ErrorCode.INVALID_REQUEST }),
      );
    }
    expect(() => provider.required("subscribe", payload({ subject: "a" }))).toThrow(
      expect.objectContaining({ code: ErrorCode.INVALID_REQUEST }),
    );
  });

  it("publishes text and base64 data that a subscriber receives byte for byte", async () => {
    const received: Uint8Array[] = [];
    const sub = raw.subscribe("orders.created", { callback: (_e, m) => received.push(m.data) });
    await raw.flush();
    const answer = await provider.handle(call("publish", { subject: "orders.created", data: "héllo" }));
    expect(answer.byteLength).toBe(0);
    const bytes = new Uint8Array([0, 255, 128, 10]);
    await provider.handle(
      call("publish", { subject: "orders.created", dataBase64: Buffer.from(bytes).toString("base64") }),
    );
    await until(() => received.length === 2, 15_000, "two messages");
    expect(decoder.decode(received[0])).toBe("héllo");
    expect([...received[1]!]).toEqual([...bytes]);
    sub.unsubscribe();
  });

  it("answers a request with the responder's bytes, TIMEOUT when it is silent, PROVIDER_UNAVAILABLE with no responder", async () => {
    const reply = await provider.handle(call("request", { subject: "svc.echo", data: "ping" }));
    expect(decoder.decode(reply)).toBe("echo:ping");

    const silent = raw.subscribe("svc.silent", { callback: () => undefined });
    await raw.flush();
    const started = Date.now();
    await expect(
      provider.handle(call("request", { subject: "svc.silent", data: "x", timeoutMs: 200 })),
    ).rejects.toMatchObject({ code: ErrorCode.TIMEOUT });
    expect(Date.now() - started).toBeLessThan(2_000);
    // The guest's deadline caps the request's own timeout.
    const capped = Date.now();
    await expect(
      provider.handle(call("request", { subject: "svc.silent", data: "x", timeoutMs: 10_000 }, 150)),
    ).rejects.toMatchObject({ code: ErrorCode.TIMEOUT });
    expect(Date.now() - capped).toBeLessThan(1_500);
    silent.unsubscribe();

    await expect(
      provider.handle(call("request", { subject: "svc.nobody", data: "x" })),
    ).rejects.toMatchObject({
      code: ErrorCode.PROVIDER_UNAVAILABLE,
    });
  });

  it("delivers to a host-side subscription across a NATS restart and fails fast while NATS is down", async () => {
    const got: InboundMessage[] = [];
    const sub = await provider.subscribe("events.>", undefined, async (m) => {
      got.push(m);
    });
    await provider.publish("events.one", encoder.encode("1"), { "X-Trace": "t1" });
    await until(() => got.length === 1, 15_000, "first message");
    expect(got[0]).toMatchObject({ subject: "events.one", headers: { "X-Trace": "t1" }, deliveryCount: 1 });

    const restarting = server.restart(1_500);
    await until(() => !provider.link.connected, 15_000, "the disconnect");
    const started = Date.now();
    await expect(
      provider.handle(call("publish", { subject: "events.two", data: "lost" }, 10_000)),
    ).rejects.toMatchObject({ code: ErrorCode.PROVIDER_UNAVAILABLE });
    // unavailableAfterMs is 500: the call gives up well before NATS is back.
    expect(Date.now() - started).toBeLessThan(1_400);
    await restarting;

    // The client renews the subscription after reconnecting; publish until one gets through.
    await until(() => provider.link.connected, 10_000, "the reconnection");
    const deadline = Date.now() + 10_000;
    while (!got.some((m) => m.subject === "events.three") && Date.now() < deadline) {
      await provider.publish("events.three", encoder.encode("3"));
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(got.map((m) => m.subject)).toContain("events.three");
    await sub.unsubscribe();
  });

  it("answers requests from a host-side subscription", async () => {
    const sub = await provider.subscribe("svc.upper", undefined, async (m) => {
      m.respond(encoder.encode(decoder.decode(m.data).toUpperCase()));
    });
    const reply = await raw.request("svc.upper", encoder.encode("shout"), { timeout: 2_000 });
    expect(decoder.decode(reply.data)).toBe("SHOUT");
    await sub.unsubscribe();
  });

  it("splits a queue group's messages between its members, each message to one", async () => {
    const seen = new Map<string, number>();
    const handler = async (m: InboundMessage) => {
      const id = decoder.decode(m.data);
      seen.set(id, (seen.get(id) ?? 0) + 1);
    };
    const a = await provider.subscribe("jobs.run", "workers", handler);
    const b = await provider.subscribe("jobs.run", "workers", handler);
    for (let i = 0; i < 200; i++) raw.publish("jobs.run", encoder.encode(String(i)));
    await raw.flush();
    await until(() => seen.size === 200, 15_000, "200 jobs");
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    await a.unsubscribe();
    await b.unsubscribe();
  });
});

import { type CapabilityAssignment, ErrorCode, parsePermission, WasmatrixError } from "@wasmatrix/core";
import { MessagingProvider } from "@wasmatrix/providers";
import type { InvokeResult } from "@wasmatrix/runtime";
import { wat } from "@wasmatrix/runtime/test-support/wat";
import { connect, type Msg, type NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type NatsServer, startNats } from "../../../test/support/nats.js";
import { NodeAgent } from "./agent.js";
import { type Invoker, retryDelayMs, SubscriptionManager } from "./subscriptions.js";
import { guests } from "./test-support/guests.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A reactor whose every invocation is a guest error: the instance stays up, each call fails. */
const ALWAYS_FAILS_WAT = `(module
  (import "wapc" "__guest_request" (func $request (param i32 i32)))
  (import "wapc" "__guest_error" (func $error (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "always fails")
  (func (export "__guest_call") (param i32 i32) (result i32)
    (call $request (i32.const 1024) (i32.const 2048))
    (call $error (i32.const 16) (i32.const 12))
    (i32.const 0)))`;

const messaging = (...permissions: string[]): CapabilityAssignment[] => [
  {
    capability: "messaging",
    provider: "local",
    binding: "default",
    permissions: permissions.map((p) => parsePermission(p)),
  },
];

async function until(condition: () => boolean, timeoutMs = 10_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The agent, seen through what the manager asks of it, recording every invocation. */
function recording(agent: Invoker) {
  const calls: { at: number; operation: string; payload: string; ok: boolean }[] = [];
  const invoker: Invoker = {
    async invoke(instanceId, operation, payload) {
      const result = await agent.invoke(instanceId, operation, payload);
      const ok = result.outcome.status === "ok" && result.guestError === undefined;
      calls.push({ at: Date.now(), operation, payload: decoder.decode(payload), ok });
      return result;
    },
  };
  return { invoker, calls };
}

describe("subscriptions delivering NATS messages as invocations", () => {
  let server: NatsServer;
  let raw: NatsConnection;
  let provider: MessagingProvider;
  let agent: NodeAgent;
  const managers: SubscriptionManager[] = [];

  function manager(invoker: Invoker = agent): SubscriptionManager {
    const m = new SubscriptionManager(invoker, provider, { ackWaitMs: 5_000 });
    managers.push(m);
    return m;
  }

  async function publish(subject: string, data: string, headers?: Record<string, string>) {
    // Through the provider, which waits for a (re)connection instead of buffering.
    for (;;) {
      try {
        return await provider.publish(subject, encoder.encode(data), headers);
      } catch (error) {
        if (!WasmatrixError.is(error) || error.code !== ErrorCode.PROVIDER_UNAVAILABLE) throw error;
      }
    }
  }

  beforeAll(async () => {
    server = await startNats({ jetstream: true });
    raw = await connect({ servers: server.url, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
    provider = new MessagingProvider({
      nats: { servers: server.url, unavailableAfterMs: 1_000, reconnectTimeWaitMs: 100 },
    });
    agent = new NodeAgent({
      nodeId: "subs",
      runtime: { workers: 1 },
      stopDeadlineMs: 200,
      providers: [provider],
    });
    const proxy = await guests.proxy();
    for (const id of ["echo-1", "echo-2", "echo-3", "echo-4", "echo-5", "echo-6"]) {
      await agent.start({ instanceId: id, module: proxy });
    }
    await agent.start({ instanceId: "fails", module: await wat(ALWAYS_FAILS_WAT) });
    await agent.start({ instanceId: "crashes", module: proxy, restartPolicy: { kind: "always" } });
  });
  afterAll(async () => {
    await Promise.all(managers.map((m) => m.close()));
    await agent.close(200);
    await raw.close();
    await server.stop();
  });

  it("waits twice as long before each retry, up to the cap", () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => retryDelayMs(n, 50, 1_000))).toEqual([
      50, 100, 200, 400, 800, 1_000,
    ]);
    expect(retryDelayMs(1_000, 50, 1_000)).toBe(1_000);
  });

  it("invokes the instance once per message with a JSON envelope naming the subject", async () => {
    const { invoker, calls } = recording(agent);
    const subs = manager(invoker);
    const view = await subs.subscribe(
      "echo-1",
      { subject: "greet.*", operation: "echo" },
      messaging("msg:subscribe:greet.>"),
    );
    expect(view).toMatchObject({
      subject: "greet.*",
      delivery: "durable",
      deadLetterSubject: "wasmatrix.deadletter.echo-1",
    });
    await publish("greet.alice", "hi");
    await publish("greet.bob", "yo", { "X-Id": "7" });
    raw.publish("greet.carol", new Uint8Array([0xff, 0x00]));
    await until(() => calls.length === 3, 15_000, "three invocations");
    expect(calls.map((c) => JSON.parse(c.payload))).toEqual([
      { subject: "greet.alice", data: "hi" },
      { subject: "greet.bob", data: "yo", headers: { "X-Id": "7" } },
      { subject: "greet.carol", dataBase64: Buffer.from([0xff, 0x00]).toString("base64") },
    ]);
    expect(subs.counters("echo-1")).toEqual({ delivered: 3, retried: 0, deadLettered: 0, dropped: 0 });
    await subs.unsubscribe("echo-1");
    await publish("greet.dave", "gone");
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(calls).toHaveLength(3);
  });

  it("refuses subscriptions the instance's grants do not cover", async () => {
    const subs = manager();
    const attempt = (subject: string, assignments: CapabilityAssignment[]) =>
      subs.subscribe("echo-2", { subject, operation: "echo" }, assignments);
    await expect(attempt("orders.created", [])).rejects.toMatchObject({
      code: ErrorCode.CAPABILITY_NOT_ASSIGNED,
    });
    await expect(attempt("orders.*", messaging("msg:subscribe:orders.created"))).rejects.toMatchObject({
      code: ErrorCode.PERMISSION_DENIED,
    });
    await expect(attempt("orders.created", messaging("msg:publish:orders.created"))).rejects.toMatchObject({
      code: ErrorCode.PERMISSION_DENIED,
    });
    await expect(attempt("orders..x", messaging("msg:subscribe:>"))).rejects.toMatchObject({
      code: ErrorCode.INVALID_REQUEST,
    });
    await expect(
      subs.subscribe("echo-2", { subject: "a", maxAttempts: 0 }, messaging("msg:subscribe:>")),
    ).rejects.toMatchObject({ code: ErrorCode.INVALID_REQUEST });
    await attempt("orders.*", messaging("msg:subscribe:orders.>"));
    await expect(attempt("orders.*", messaging("msg:subscribe:orders.>"))).rejects.toMatchObject({
      code: ErrorCode.ALREADY_EXISTS,
    });
    // Revoking the grant ends the subscription.
    expect(await subs.revalidate("echo-2", messaging("msg:subscribe:orders.created"))).toEqual(["orders.*"]);
    expect(subs.list("echo-2")).toEqual([]);
  });

  it("retries a failing handler with growing backoff, then dead-letters it with headers naming the error", async () => {
    const dead: Msg[] = [];
    const dlq = raw.subscribe("wasmatrix.deadletter.fails", { callback: (_e, m) => dead.push(m) });
    await raw.flush();
    const { invoker, calls } = recording(agent);
    const subs = manager(invoker);
    await subs.subscribe(
      "fails",
      { subject: "work.fail", maxAttempts: 4, initialBackoffMs: 40 },
      messaging("msg:subscribe:work.*"),
    );
    await publish("work.fail", "poison", { "X-Id": "p-1" });
    await until(() => dead.length === 1, 10_000, "the dead letter");
    expect(calls.map((c) => c.operation)).toEqual(Array(4).fill("handle_message"));
    const gaps = calls.slice(1).map((c, i) => c.at - calls[i]!.at);
    for (const [i, delay] of [40, 80, 160].entries()) expect(gaps[i]).toBeGreaterThanOrEqual(delay - 5);
    const letter = dead[0]!;
    expect(letter.string()).toBe("poison");
    expect(letter.headers?.get("Wasmatrix-Error-Kind")).toBe("guest_error");
    expect(letter.headers?.get("Wasmatrix-Error")).toBe("always fails");
    expect(letter.headers?.get("Wasmatrix-Attempts")).toBe("4");
    expect(letter.headers?.get("Wasmatrix-Subject")).toBe("work.fail");
    expect(letter.headers?.get("Wasmatrix-Instance")).toBe("fails");
    expect(letter.headers?.get("X-Id")).toBe("p-1");
    expect(subs.counters("fails")).toEqual({ delivered: 0, retried: 3, deadLettered: 1, dropped: 0 });
    expect(agent.get("fails").status).toBe("running");
    dlq.unsubscribe();
  });

  it("retries a message that crashed the instance on its restarted successor, then dead-letters it", async () => {
    const dead: Msg[] = [];
    const dlq = raw.subscribe("dead.crash", { callback: (_e, m) => dead.push(m) });
    await raw.flush();
    const subs = manager();
    await subs.subscribe(
      "crashes",
      {
        subject: "work.crash",
        operation: "trap",
        maxAttempts: 3,
        initialBackoffMs: 100,
        deadLetterSubject: "dead.crash",
      },
      messaging("msg:subscribe:work.crash"),
    );
    await publish("work.crash", "boom");
    await until(() => dead.length === 1, 10_000, "the dead letter");
    // The last attempt crashed the instance, or found it still restarting after the one before.
    expect(["crash", "error"]).toContain(dead[0]!.headers?.get("Wasmatrix-Error-Kind"));
    expect(agent.get("crashes").restarts).toBeGreaterThanOrEqual(1);
    // The counter follows the dead letter's publish: it may land a moment after the message does.
    await until(() => subs.counters("crashes").deadLettered === 1, 10_000, "the dead-letter count");
    expect(subs.counters("crashes")).toMatchObject({ retried: 2, deadLettered: 1 });
    dlq.unsubscribe();
  });

  it("delivers a message whose handler fails and then succeeds exactly once, without a dead letter", async () => {
    let failuresLeft = 2;
    const flaky: Invoker = {
      async invoke(id, op, payload): Promise<InvokeResult> {
        if (failuresLeft-- > 0)
          throw new WasmatrixError(ErrorCode.FAILED_PRECONDITION, "instance is restarting");
        return agent.invoke(id, op, payload);
      },
    };
    const subs = manager(flaky);
    await subs.subscribe(
      "echo-3",
      { subject: "work.flaky", operation: "echo", initialBackoffMs: 10 },
      messaging("msg:subscribe:work.>"),
    );
    await publish("work.flaky", "eventually");
    await until(() => subs.counters("echo-3").delivered === 1, 15_000, "the delivery");
    expect(subs.counters("echo-3")).toEqual({ delivered: 1, retried: 2, deadLettered: 0, dropped: 0 });
  });

  it("holds messages while the instance is paused (restarting) without spending attempts", async () => {
    const { invoker, calls } = recording(agent);
    const subs = manager(invoker);
    await subs.subscribe(
      "echo-3",
      { subject: "hold.x", operation: "echo", payload: "raw", maxAttempts: 1 },
      messaging("msg:subscribe:hold.x"),
    );
    subs.pause("echo-3");
    for (const text of ["a", "b", "c"]) await publish("hold.x", text);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(calls).toHaveLength(0);
    subs.resume("echo-3");
    await until(() => calls.length === 3, 15_000, "three deliveries");
    expect(calls.map((c) => c.payload)).toEqual(["a", "b", "c"]);
    expect(subs.counters("echo-3")).toEqual({ delivered: 3, retried: 0, deadLettered: 0, dropped: 0 });
    await subs.unsubscribe("echo-3");
  });

  it("answers requests with the invocation's response when delivery is core", async () => {
    const subs = manager();
    await subs.subscribe(
      "echo-4",
      { subject: "rpc.echo", operation: "echo", delivery: "core", payload: "raw" },
      messaging("msg:subscribe:rpc.*"),
    );
    const reply = await raw.request("rpc.echo", encoder.encode("marco"), { timeout: 2_000 });
    expect(decoder.decode(reply.data)).toBe("marco");
  });

  it("never holds more than maxQueue messages for a slow instance; durable delivery loses none, core counts its drops", async () => {
    let queuedMax = 0;
    const { invoker, calls } = recording({
      async invoke(id, op, payload) {
        await new Promise((resolve) => setTimeout(resolve, 2));
        return agent.invoke(id, op, payload);
      },
    });
    const subs = manager(invoker);
    await subs.subscribe(
      "echo-5",
      { subject: "slow.durable", operation: "echo", maxQueue: 5, payload: "raw" },
      messaging("msg:subscribe:slow.>"),
    );
    const sampler = setInterval(() => {
      for (const view of subs.list("echo-5")) queuedMax = Math.max(queuedMax, view.queued);
    }, 1);
    for (let i = 0; i < 150; i++) raw.publish("slow.durable", encoder.encode(String(i)));
    await raw.flush();
    await until(() => calls.length === 150, 10_000, "150 deliveries");
    clearInterval(sampler);
    expect(queuedMax).toBeLessThanOrEqual(5);
    expect(queuedMax).toBeGreaterThan(0);
    expect(calls.map((c) => Number(c.payload))).toEqual(Array.from({ length: 150 }, (_, i) => i));
    await subs.unsubscribe("echo-5");

    await subs.subscribe(
      "echo-5",
      { subject: "slow.core", operation: "echo", maxQueue: 5, delivery: "core", payload: "raw" },
      messaging("msg:subscribe:slow.>"),
    );
    for (let i = 0; i < 200; i++) raw.publish("slow.core", encoder.encode(String(i)));
    await raw.flush();
    await until(
      () => {
        const c = subs.counters("echo-5");
        return c.delivered + c.dropped === 200;
      },
      10_000,
      "every message delivered or dropped",
    );
    expect(subs.counters("echo-5").dropped).toBeGreaterThan(0);
  });

  it("keeps its subscriptions across a NATS restart and delivers what was published while the node was away", async () => {
    const { invoker, calls } = recording(agent);
    let subs = manager(invoker);
    const grant = messaging("msg:subscribe:life.>");
    await subs.subscribe("echo-6", { subject: "life.durable", operation: "echo", payload: "raw" }, grant);
    await subs.subscribe(
      "echo-6",
      { subject: "life.core", operation: "echo", payload: "raw", delivery: "core" },
      grant,
    );
    await publish("life.durable", "d-before");
    await publish("life.core", "c-before");
    await until(() => calls.length === 2, 15_000, "two deliveries");

    await server.restart();
    await publish("life.durable", "d-after");
    // A core subscription is renewed once its client has reconnected; publish until one arrives.
    for (let i = 0; i < 100 && !calls.some((c) => c.payload.startsWith("c-after")); i++) {
      await publish("life.core", `c-after-${i}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await until(() => calls.some((c) => c.payload === "d-after"), 10_000, "the durable message");
    expect(calls.some((c) => c.payload.startsWith("c-after"))).toBe(true);

    // The node agent goes away; what is published meanwhile waits for the same subscription.
    await subs.close();
    await publish("life.durable", "while-away");
    subs = manager(invoker);
    await subs.subscribe("echo-6", { subject: "life.durable", operation: "echo", payload: "raw" }, grant);
    await until(() => calls.some((c) => c.payload === "while-away"), 10_000, "the message sent while away");
    expect(calls.filter((c) => c.payload === "d-after")).toHaveLength(1);
  }, 30_000);
});

import { type CapabilityAssignment, parsePermission } from "@wasmatrix/core";
import { JetStreamKeyvalueProvider, MessagingProvider, NatsLink } from "@wasmatrix/providers";
import { connect, type NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type NatsServer, startNats } from "../../../test/support/nats.js";
import { NodeAgent } from "./agent.js";
import { capabilityCall, guests } from "./test-support/guests.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const assignment = (capability: "messaging" | "keyvalue", permissions: string[]): CapabilityAssignment => ({
  capability,
  provider: "local",
  binding: "default",
  permissions: permissions.map((p) => parsePermission(p)),
});

/**
 * Guests reaching NATS through the node agent's router: the permission check happens before the
 * provider sees the call, and a refused or failed call is an error for the guest, never a crash.
 */
describe("guests on NATS capabilities", () => {
  let server: NatsServer;
  let raw: NatsConnection;
  let proxy: Uint8Array;
  const agents: NodeAgent[] = [];
  const links = new Map<NodeAgent, NatsLink>();

  /** A node agent with its own NATS connection, shared by its two providers. */
  function nodeAgent(): NodeAgent {
    const link = new NatsLink({ servers: server.url, unavailableAfterMs: 500, reconnectTimeWaitMs: 100 });
    const agent = new NodeAgent({
      nodeId: "nats-node",
      runtime: { workers: 1 },
      stopDeadlineMs: 200,
      providers: [new MessagingProvider({ link }), new JetStreamKeyvalueProvider({ link })],
    });
    agents.push(agent);
    links.set(agent, link);
    return agent;
  }

  async function shutDown(agent: NodeAgent): Promise<void> {
    await agent.close(200);
    await links.get(agent)?.close();
  }

  async function guestCall(agent: NodeAgent, id: string, ns: string, operation: string, payload: unknown) {
    const result = await agent.invoke(id, "call", capabilityCall("default", ns, operation, payload));
    expect(result.outcome.status).toBe("ok");
    return result.guestError === undefined
      ? { ok: true as const, text: decoder.decode(result.response ?? new Uint8Array()) }
      : { ok: false as const, error: JSON.parse(result.guestError) as { code: string; message: string } };
  }

  beforeAll(async () => {
    server = await startNats({ jetstream: true });
    raw = await connect({ servers: server.url, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
    proxy = await guests.proxy();
  });
  afterAll(async () => {
    await Promise.all(agents.map((a) => shutDown(a)));
    await raw.close();
    await server.stop();
  });

  it("publishes on granted subjects, gets PERMISSION_DENIED on others and keeps running", async () => {
    const agent = nodeAgent();
    await agent.start({
      instanceId: "pub",
      module: proxy,
      assignments: [assignment("messaging", ["msg:publish:orders.*"])],
    });
    const received: string[] = [];
    const sub = raw.subscribe("orders.>", {
      callback: (_e, m) => received.push(`${m.subject}=${m.string()}`),
    });
    await raw.flush();

    const ok = await guestCall(agent, "pub", "wasmatrix:messaging", "publish", {
      subject: "orders.created",
      data: "o-1",
    });
    expect(ok).toEqual({ ok: true, text: "" });
    const denied = await guestCall(agent, "pub", "wasmatrix:messaging", "publish", {
      subject: "orders.eu.created",
      data: "o-2",
    });
    expect(denied).toMatchObject({ ok: false, error: { code: "PERMISSION_DENIED" } });
    const other = await guestCall(agent, "pub", "wasmatrix:messaging", "publish", {
      subject: "payments.x",
      data: "",
    });
    expect(other).toMatchObject({ ok: false, error: { code: "PERMISSION_DENIED" } });

    await raw.flush();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(received).toEqual(["orders.created=o-1"]);
    expect(agent.get("pub")).toMatchObject({ status: "running", calls: { denied: 2 } });
    sub.unsubscribe();
  });

  it("makes requests on granted subjects and tells the guest when nobody answers", async () => {
    const agent = nodeAgent();
    await agent.start({
      instanceId: "req",
      module: proxy,
      assignments: [assignment("messaging", ["msg:publish:svc.>"])],
    });
    const responder = raw.subscribe("svc.time", {
      callback: (_e, m) => m.respond(encoder.encode(`now:${m.string()}`)),
    });
    await raw.flush();
    expect(
      await guestCall(agent, "req", "wasmatrix:messaging", "request", { subject: "svc.time", data: "utc" }),
    ).toEqual({ ok: true, text: "now:utc" });
    expect(
      await guestCall(agent, "req", "wasmatrix:messaging", "request", { subject: "svc.none", data: "" }),
    ).toMatchObject({ ok: false, error: { code: "PROVIDER_UNAVAILABLE" } });
    expect(
      await guestCall(agent, "req", "wasmatrix:messaging", "request", { subject: "admin.reset", data: "" }),
    ).toMatchObject({ ok: false, error: { code: "PERMISSION_DENIED" } });
    expect(agent.get("req").status).toBe("running");
    responder.unsubscribe();
  });

  it("keeps keyvalue data across an instance crash, a node agent restart and a nats-server restart", async () => {
    const kv = assignment("keyvalue", ["kv:read", "kv:write"]);
    const first = nodeAgent();
    await first.start({
      instanceId: "counter",
      module: proxy,
      assignments: [kv],
      restartPolicy: { kind: "always" },
    });
    const bump = (agent: NodeAgent) =>
      guestCall(agent, "counter", "wasmatrix:keyvalue", "increment", { key: "n" });
    expect(await bump(first)).toEqual({ ok: true, text: "1" });

    // The instance crashes; the restart policy brings a fresh one with the same id.
    const crash = await first.invoke("counter", "trap", new Uint8Array());
    expect(crash.outcome.status).toBe("crashed");
    await first.waitFor("counter", (v) => v.status === "running" && v.restarts === 1);
    expect(await bump(first)).toEqual({ ok: true, text: "2" });

    // The node agent goes away; a new one (new connection, new provider) runs the same id.
    await shutDown(first);
    const second = nodeAgent();
    await second.start({ instanceId: "counter", module: proxy, assignments: [kv] });
    expect(await bump(second)).toEqual({ ok: true, text: "3" });

    // NATS restarts; the guest sees PROVIDER_UNAVAILABLE at worst, never a crash, then its data.
    await server.restart();
    let answer = await bump(second);
    for (let i = 0; i < 50 && !answer.ok; i++) {
      expect(answer).toMatchObject({ ok: false, error: { code: "PROVIDER_UNAVAILABLE" } });
      answer = await bump(second);
    }
    expect(answer).toEqual({ ok: true, text: "4" });
    expect(second.get("counter").status).toBe("running");
  }, 30_000);

  it("answers PROVIDER_UNAVAILABLE in bounded time while NATS is down, and the instance keeps running", async () => {
    const agent = nodeAgent();
    await agent.start({
      instanceId: "down",
      module: proxy,
      assignments: [assignment("messaging", ["msg:publish:>"]), assignment("keyvalue", ["kv:read"])],
    });
    expect(
      await guestCall(agent, "down", "wasmatrix:messaging", "publish", { subject: "x", data: "" }),
    ).toEqual({
      ok: true,
      text: "",
    });
    const restarting = server.restart(2_000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    for (const [ns, op, payload] of [
      ["wasmatrix:messaging", "publish", { subject: "x", data: "" }],
      ["wasmatrix:keyvalue", "get", { key: "k" }],
    ] as const) {
      const started = Date.now();
      expect(await guestCall(agent, "down", ns, op, payload)).toMatchObject({
        ok: false,
        error: { code: "PROVIDER_UNAVAILABLE" },
      });
      expect(Date.now() - started).toBeLessThan(1_400);
    }
    expect(agent.get("down").status).toBe("running");
    await restarting;
  }, 30_000);

  it("counts a refused increment once when the guest retries it, as in the report: 1, refused, 2", async () => {
    const agent = nodeAgent();
    await agent.start({
      instanceId: "repro",
      module: proxy,
      assignments: [assignment("keyvalue", ["kv:read", "kv:write"])],
    });
    const kv = (operation: string) =>
      guestCall(agent, "repro", "wasmatrix:keyvalue", operation, { key: "n" });
    expect(await kv("increment")).toEqual({ ok: true, text: "1" });
    await server.kill();
    const link = links.get(agent)!;
    while (link.connected) await new Promise((resolve) => setTimeout(resolve, 5));
    // Late in the outage: refused when the outage is 500 ms old, before this call's own wait for
    // NATS is over; NATS is back within that wait.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await kv("increment")).toMatchObject({ ok: false, error: { code: "PROVIDER_UNAVAILABLE" } });
    await server.start();
    let answer = await kv("increment");
    while (!answer.ok && answer.error.code === "PROVIDER_UNAVAILABLE") answer = await kv("increment");
    expect(answer).toEqual({ ok: true, text: "2" });
  }, 30_000);

  it("counts each increment of guests that retry refusals once, across a kill -9 of nats-server", async () => {
    const agent = nodeAgent();
    const ids = ["retrier-0", "retrier-1", "retrier-2", "retrier-3"];
    for (const instanceId of ids) {
      await agent.start({
        instanceId,
        module: proxy,
        assignments: [assignment("keyvalue", ["kv:read", "kv:write"])],
      });
    }
    const kv = (id: string, operation: string) =>
      guestCall(agent, id, "wasmatrix:keyvalue", operation, { key: "n" });
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    const tally = new Map(ids.map((id) => [id, { done: 0, unknown: 0, refused: 0 }]));
    const total = () => [...tally.values()].reduce((sum, t) => sum + t.done, 0);
    // Each guest increments its own counter now and then, so that some start their call while
    // NATS is down; a refusal is retried at once, as it says it may be; an unknown outcome is not.
    const guest = async (id: string, offset: number) => {
      const t = tally.get(id)!;
      for (let i = 0; i < 12; i++) {
        for (;;) {
          const answer = await kv(id, "increment");
          if (answer.ok) {
            t.done++;
            break;
          }
          if (answer.error.code === "OUTCOME_UNKNOWN") {
            t.unknown++;
            break;
          }
          expect(["PROVIDER_UNAVAILABLE", "TIMEOUT"]).toContain(answer.error.code);
          t.refused++;
        }
        await sleep(50 + ((offset + i * 37) % 400));
      }
    };
    // Down a little longer than the link's wait (500 ms), so that it refuses calls that started
    // late in the outage while NATS is about to come back within their own wait.
    const crash = async () => {
      while (total() < 12) await sleep(5);
      await server.kill();
      await sleep(650);
      await server.start();
    };
    await Promise.all([...ids.map((id, j) => guest(id, j * 41)), crash()]);
    expect([...tally.values()].some((t) => t.refused > 0)).toBe(true);
    for (const id of ids) {
      const t = tally.get(id)!;
      let final = await kv(id, "get");
      while (!final.ok) final = await kv(id, "get");
      expect(Number(final.text), id).toBeGreaterThanOrEqual(t.done);
      expect(Number(final.text), id).toBeLessThanOrEqual(t.done + t.unknown);
      expect(agent.get(id).status).toBe("running");
    }
  }, 60_000);
});

import { type CapabilityAssignment, parsePermission, TENANT_SUBJECT_ROOT } from "@wasmatrix/core";
import { type CapabilityProvider, InProcessBus, MessagingProvider } from "@wasmatrix/providers";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type NatsServer, startNats } from "../../../test/support/nats.js";
import { NodeAgent } from "./agent.js";
import { capabilityCall, guests } from "./test-support/guests.js";

const decoder = new TextDecoder();

/** Subjects a guest might build to reach another tenant's subscribers: none may. */
const trickySubject = fc.oneof(
  fc.constantFrom(
    "orders.new",
    "..",
    "orders..new",
    "*",
    ">",
    "orders.*",
    "orders.>",
    "orders.new\u0000",
    "\u0000",
    `${TENANT_SUBJECT_ROOT}.b.orders.new`,
    `${TENANT_SUBJECT_ROOT}.a.orders.new`,
    `${TENANT_SUBJECT_ROOT}`,
    `${TENANT_SUBJECT_ROOT}.>`,
    "_INBOX.x",
    "b.orders.new",
    "tenant.b.orders",
    "κλειδί.🔑",
    "o".repeat(4096),
    `${"a.".repeat(200)}x`,
  ),
  fc.string({ unit: "grapheme", maxLength: 40 }),
  fc
    .array(fc.constantFrom("orders", "b", "*", ">", TENANT_SUBJECT_ROOT, "", "new"), { maxLength: 5 })
    .map((t) => t.join(".")),
);

const messaging = (...permissions: string[]): CapabilityAssignment[] => [
  {
    capability: "messaging",
    provider: "local",
    binding: "default",
    permissions: permissions.map((p) => parsePermission(p)),
  },
];

async function until(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Instances of tenants `a` and `b` and of the default tenant on one agent: `pub-a` publishes and
 * requests anything, `sub-a`, `sub-b` and `sub-default` subscribe to everything their tenant has.
 */
async function tenants(provider: CapabilityProvider) {
  const agent = new NodeAgent({
    nodeId: "tenant-messaging",
    runtime: { workers: 2 },
    stopDeadlineMs: 200,
    providers: [provider],
  });
  const proxy = await guests.proxy();
  const all = messaging("msg:publish:>", "msg:subscribe:>");
  await agent.start({ instanceId: "pub-a", module: proxy, tenant: "a", assignments: all });
  for (const [id, tenant] of [
    ["sub-a", "a"],
    ["sub-b", "b"],
    ["sub-default", "default"],
  ] as const) {
    await agent.start({ instanceId: id, module: proxy, tenant, assignments: all });
    await agent.subscribe(id, { subject: ">", operation: "echo", delivery: "core", maxQueue: 100_000 });
  }
  async function call(operation: string, payload: unknown) {
    const result = await agent.invoke(
      "pub-a",
      "call",
      capabilityCall("default", "wasmatrix:messaging", operation, payload),
    );
    return {
      ok: result.guestError === undefined && result.outcome.status === "ok",
      text: decoder.decode(result.response ?? new Uint8Array()),
      error: result.guestError ?? "",
    };
  }
  const delivered = (id: string) => agent.subscriptions!.counters(id).delivered;
  const idle = () => agent.subscriptions!.queued() === 0;
  return { agent, call, delivered, idle };
}

describe("tenants' messaging on the in-process bus", () => {
  let bus: InProcessBus;
  let t: Awaited<ReturnType<typeof tenants>>;
  const onBus: string[] = [];

  beforeAll(async () => {
    bus = new InProcessBus();
    t = await tenants(bus);
    // The host sees every subject as the bus carries it.
    await bus.subscribe(">", undefined, async (message) => {
      onBus.push(message.subject);
    });
  }, 60_000);
  afterAll(async () => {
    await t.agent.close(200);
    await bus.close?.();
  });

  it("delivers a tenant's message to its own subscribers, under its own subject", async () => {
    const before = t.delivered("sub-a");
    const published = await t.call("publish", { subject: "orders.new", data: "hello" });
    expect(published.ok, published.error).toBe(true);
    await until(() => t.delivered("sub-a") === before + 1, "sub-a's delivery");
    expect(onBus).toContain(`${TENANT_SUBJECT_ROOT}.a.orders.new`);
    expect(onBus).not.toContain("orders.new");
  });

  it("answers a tenant's request from its own subscriber, which sees the guest's subject", async () => {
    const answer = await t.call("request", { subject: "orders.ask", data: "q", timeoutMs: 10_000 });
    expect(answer.ok, answer.error).toBe(true);
    // Only sub-a's envelope can come back, and it names the subject as the guest wrote it.
    expect(JSON.parse(answer.text)).toEqual({ subject: "orders.ask", data: "q" });
  }, 30_000);

  it("never lets tenant A's guest reach tenant B's or the default tenant's subscribers, whatever subject it builds", async () => {
    let published = 0;
    const beforeA = t.delivered("sub-a");
    await fc.assert(
      fc.asyncProperty(trickySubject, async (subject) => {
        const sent = await t.call("publish", { subject, data: "from-a" });
        if (subject.startsWith(TENANT_SUBJECT_ROOT)) expect(sent.ok, subject).toBe(false);
        if (sent.ok) published++;
      }),
      { numRuns: 200 },
    );
    // A's own subscriber got every accepted message: the others had time to get theirs too.
    await until(() => t.delivered("sub-a") === beforeA + published && t.idle(), "deliveries");
    expect(published).toBeGreaterThan(0);
    expect(t.delivered("sub-b")).toBe(0);
    expect(t.delivered("sub-default")).toBe(0);
    for (const subject of onBus) expect(subject.startsWith(`${TENANT_SUBJECT_ROOT}.a.`), subject).toBe(true);
  }, 180_000);

  it("refuses a subscription in the reserved space, and confines a tenant's patterns to its tenant", async () => {
    await expect(t.agent.subscribe("sub-b", { subject: `${TENANT_SUBJECT_ROOT}.a.>` })).rejects.toThrow(
      /reserved/,
    );
    await expect(t.agent.subscribe("sub-default", { subject: `${TENANT_SUBJECT_ROOT}.>` })).rejects.toThrow(
      /reserved/,
    );
  });
});

describe("tenants' messaging on NATS", () => {
  let server: NatsServer;
  let provider: MessagingProvider;
  let t: Awaited<ReturnType<typeof tenants>>;

  beforeAll(async () => {
    server = await startNats({ jetstream: true });
    provider = new MessagingProvider({ nats: { servers: server.url, unavailableAfterMs: 5_000 } });
    t = await tenants(provider);
  }, 60_000);
  afterAll(async () => {
    await t?.agent.close(200);
    await provider?.close();
    await server?.stop();
  });

  it("keeps tenant A's publishes and requests away from tenant B and the default tenant", async () => {
    const answer = await t.call("request", { subject: "orders.ask", data: "q", timeoutMs: 10_000 });
    expect(answer.ok, answer.error).toBe(true);
    expect(JSON.parse(answer.text)).toEqual({ subject: "orders.ask", data: "q" });
    let published = 0;
    for (const subject of ["orders.new", ">", "*", `${TENANT_SUBJECT_ROOT}.b.orders.new`, "b.orders.new"]) {
      if ((await t.call("publish", { subject, data: "from-a" })).ok) published++;
    }
    expect(published).toBe(2);
    // sub-a may also see the answer on its tenant's inbox (`>` covers it): at least these.
    await until(() => t.delivered("sub-a") >= 1 + published && t.idle(), "deliveries");
    expect(t.delivered("sub-b")).toBe(0);
    expect(t.delivered("sub-default")).toBe(0);
  }, 60_000);

  it("keeps a tenant's durable (JetStream) subscription to its own tenant's messages", async () => {
    const proxy = await guests.proxy();
    const sub = messaging("msg:subscribe:>");
    for (const [id, tenant] of [
      ["dur-a", "a"],
      ["dur-b", "b"],
    ] as const) {
      await t.agent.start({ instanceId: id, module: proxy, tenant, assignments: sub });
      await t.agent.subscribe(id, { subject: "jobs.*", operation: "echo", delivery: "durable" });
    }
    for (const subject of ["jobs.one", "jobs.two"]) {
      expect((await t.call("publish", { subject, data: "from-a" })).ok).toBe(true);
    }
    await until(() => t.delivered("dur-a") === 2 && t.idle(), "dur-a's deliveries");
    expect(t.delivered("dur-b")).toBe(0);
  }, 60_000);
});

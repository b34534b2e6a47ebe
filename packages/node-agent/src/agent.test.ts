import { backoffPolicy, type Fact, parsePermission } from "@wasmatrix/core";
import { afterEach, describe, expect, it } from "vitest";
import { NodeAgent } from "./agent.js";
import { capabilityCall, guests } from "./test-support/guests.js";

const decoder = new TextDecoder();
const agents: NodeAgent[] = [];

function agent(): NodeAgent {
  const a = new NodeAgent({ nodeId: "node-test", runtime: { workers: 1 }, stopDeadlineMs: 500 });
  agents.push(a);
  return a;
}

afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.close(200)));
});

function kinds(facts: readonly Fact[], instanceId: string): string[] {
  return facts.filter((f) => f.instanceId === instanceId).map((f) => f.kind);
}

const kvAssignment = (binding = "default", permissions = ["kv:read", "kv:write", "kv:list"]) => ({
  capability: "keyvalue" as const,
  provider: "local" as const,
  binding,
  permissions: permissions.map((p) => parsePermission(p)),
});

async function kv(a: NodeAgent, id: string, operation: string, payload: unknown, binding = "default") {
  const result = await a.invoke(
    id,
    "call",
    capabilityCall(binding, "wasmatrix:keyvalue", operation, payload),
  );
  return {
    ok: result.guestError === undefined && result.outcome.status === "ok",
    text: result.guestError ?? decoder.decode(result.response ?? new Uint8Array()),
  };
}

describe("restart supervision", () => {
  it("never restarts an instance under the never policy", async () => {
    const a = agent();
    await a.start({
      instanceId: "once",
      module: await guests.trapCommand(),
      restartPolicy: { kind: "never" },
    });
    const view = await a.waitFor("once", (v) => v.status === "crashed");
    await new Promise((r) => setTimeout(r, 100));
    expect(a.get("once").status).toBe("crashed");
    expect(view.restarts).toBe(0);
    expect(kinds(a.facts.query({}), "once")).toEqual(["instance.started", "instance.crashed"]);
    expect(a.facts.query({ instanceId: "once", kinds: ["instance.crashed"] })[0]?.data).toMatchObject({
      reason: "unreachable",
    });
  });

  it("restarts a completing command under always until it is stopped", async () => {
    const a = agent();
    await a.start({
      instanceId: "loop",
      module: await guests.doneCommand(),
      restartPolicy: { kind: "always" },
    });
    await a.waitFor("loop", (v) => v.restarts >= 3);
    const view = await a.stop("loop");
    expect(view.status).toBe("stopped");
    const restarted = a.facts.query({ instanceId: "loop", kinds: ["instance.restarted"] });
    expect(restarted.length).toBeGreaterThanOrEqual(3);
    for (const fact of restarted) expect(fact.data).toMatchObject({ delayMs: 0 });
    const after = a.facts.query({}).length;
    await new Promise((r) => setTimeout(r, 100));
    expect(a.facts.query({}).length).toBe(after);
  });

  it("gives up after maxRestarts with delays that grow within the backoff's bounds", async () => {
    const a = agent();
    const policy = backoffPolicy({
      initialMs: 20,
      maxMs: 50,
      multiplier: 2,
      jitter: 0,
      maxRestarts: 3,
      resetAfterMs: 60_000,
    });
    await a.start({ instanceId: "flaky", module: await guests.trapCommand(), restartPolicy: policy });
    await a.waitFor(
      "flaky",
      () => a.facts.query({ instanceId: "flaky", kinds: ["instance.restarts_exhausted"] }).length > 0,
    );
    const facts = a.facts.query({ instanceId: "flaky" });
    expect(facts.map((f) => f.kind)).toEqual([
      "instance.started",
      "instance.crashed",
      "instance.restarted",
      "instance.started",
      "instance.crashed",
      "instance.restarted",
      "instance.started",
      "instance.crashed",
      "instance.restarted",
      "instance.started",
      "instance.crashed",
      "instance.restarts_exhausted",
    ]);
    const restarted = facts.filter((f) => f.kind === "instance.restarted");
    expect(restarted.map((f) => (f.data as { delayMs: number }).delayMs)).toEqual([20, 40, 50]);
    expect(restarted.map((f) => (f.data as { attempt: number }).attempt)).toEqual([1, 2, 3]);
    // Each restart waited at least its delay after the crash before it.
    for (let i = 0; i < facts.length; i++) {
      const fact = facts[i]!;
      if (fact.kind !== "instance.restarted") continue;
      const crash = facts[i - 1]!;
      expect(fact.at - crash.at).toBeGreaterThanOrEqual((fact.data as { delayMs: number }).delayMs - 1);
    }
    expect(a.get("flaky")).toMatchObject({ status: "crashed", restarts: 3 });
  });

  it("does not restart a command that completed under backoff", async () => {
    const a = agent();
    await a.start({
      instanceId: "done",
      module: await guests.doneCommand(),
      restartPolicy: backoffPolicy({ initialMs: 10 }),
    });
    await a.waitFor("done", (v) => v.status === "completed");
    await new Promise((r) => setTimeout(r, 50));
    expect(a.get("done")).toMatchObject({ status: "completed", restarts: 0 });
  });

  it("stops a command that never ends by force after the deadline", async () => {
    const a = agent();
    await a.start({ instanceId: "spin", module: await guests.spinCommand() });
    const view = await a.stop("spin", 100);
    expect(view.status).toBe("stopped");
    expect(a.facts.query({ instanceId: "spin", kinds: ["instance.stopped"] })[0]?.data).toMatchObject({
      forced: true,
    });
  });
});

describe("statelessness", () => {
  it("resets a counter kept in linear memory when the instance restarts", async () => {
    const a = agent();
    await a.start({ instanceId: "mem", module: await guests.proxy(), restartPolicy: { kind: "always" } });
    const count = async () =>
      new DataView((await a.invoke("mem", "count", new Uint8Array())).response!.buffer).getUint32(0, true);
    expect(await count()).toBe(1);
    expect(await count()).toBe(2);
    const crash = await a.invoke("mem", "trap", new Uint8Array());
    expect(crash.outcome).toMatchObject({ status: "crashed", reason: "unreachable" });
    await a.waitFor("mem", (v) => v.status === "running" && v.restarts === 1);
    expect(await count()).toBe(1);
  });

  it("keeps a counter kept in keyvalue across a restart", async () => {
    const a = agent();
    await a.start({
      instanceId: "kvc",
      module: await guests.proxy(),
      restartPolicy: { kind: "always" },
      assignments: [kvAssignment()],
    });
    expect((await kv(a, "kvc", "increment", { key: "n" })).text).toBe("1");
    expect((await kv(a, "kvc", "increment", { key: "n" })).text).toBe("2");
    await a.invoke("kvc", "trap", new Uint8Array());
    await a.waitFor("kvc", (v) => v.status === "running" && v.restarts === 1);
    expect((await kv(a, "kvc", "increment", { key: "n" })).text).toBe("3");
  });
});

describe("capability routing", () => {
  it("serves an allowed call and hands a denied one back to the guest without crashing it", async () => {
    const a = agent();
    await a.start({
      instanceId: "caps",
      module: await guests.proxy(),
      assignments: [kvAssignment("default", ["kv:read", "kv:write"])],
    });
    expect(await kv(a, "caps", "set", { key: "k", value: "v" })).toEqual({ ok: true, text: "" });
    expect(await kv(a, "caps", "get", { key: "k" })).toEqual({ ok: true, text: "v" });
    const denied = await kv(a, "caps", "delete", { key: "k" });
    expect(denied.ok).toBe(false);
    expect(JSON.parse(denied.text)).toMatchObject({ code: "PERMISSION_DENIED" });
    const unassigned = await a.invoke(
      "caps",
      "call",
      capabilityCall("default", "wasmatrix:http", "request", { url: "http://example.com/" }),
    );
    expect(JSON.parse(unassigned.guestError!)).toMatchObject({ code: "CAPABILITY_NOT_ASSIGNED" });
    expect(a.get("caps")).toMatchObject({ status: "running", calls: { denied: 2 } });
    expect(await kv(a, "caps", "get", { key: "k" })).toEqual({ ok: true, text: "v" });
  });

  it("applies a revocation and a new assignment on the next call", async () => {
    const a = agent();
    await a.start({ instanceId: "rev", module: await guests.proxy(), assignments: [kvAssignment()] });
    expect((await kv(a, "rev", "set", { key: "k", value: "1" })).ok).toBe(true);
    a.revoke("rev", "keyvalue");
    const after = await kv(a, "rev", "get", { key: "k" });
    expect(JSON.parse(after.text)).toMatchObject({ code: "CAPABILITY_NOT_ASSIGNED" });
    a.assign("rev", kvAssignment("default", ["kv:read"]));
    expect(await kv(a, "rev", "get", { key: "k" })).toEqual({ ok: true, text: "1" });
    expect(kinds(a.facts.query({}), "rev")).toContain("capability.revoked");
  });

  it("serves logging only to an instance with a logging assignment", async () => {
    const a = agent();
    await a.start({ instanceId: "quiet", module: await guests.proxy() });
    const log = () =>
      a.invoke("quiet", "call", capabilityCall("default", "wasmatrix:logging", "warn", "disk is full"));
    expect(JSON.parse((await log()).guestError!)).toMatchObject({ code: "CAPABILITY_NOT_ASSIGNED" });
    a.assign("quiet", { capability: "logging", provider: "local", binding: "default", permissions: [] });
    expect((await log()).guestError).toBeUndefined();
    await a.waitFor("quiet", () => a.logs("quiet").some((line) => line.text === "[warn] disk is full"));
  });
});

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Client, ServiceDefinition } from "@grpc/grpc-js";
import { connect, type WasmatrixClient } from "@wasmatrix/client";
import * as pb from "@wasmatrix/proto";
import { connectProvider } from "@wasmatrix/proto";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { count, startReactor } from "../cluster/guest.js";
import { Cluster, type Daemon, freePort, spawnDaemon, untilServing } from "../cluster/harness.js";
import { arbitraryCall, type Outcome, rawClient, rssBytes, send } from "./calls.js";

/**
 * Each daemon — `wasmatrix up`, `control-plane`, `node-agent`, `provider`, real child processes —
 * takes thousands of arbitrary calls to every RPC of its services. Then it is alive, its memory
 * is bounded and a healthy instance still answers. Before the guard in packages/proto, the first
 * call of each `it` below ended the process.
 */

/** Calls in flight at once, and batches per daemon: 1 500 calls each. */
const BATCH = 25;
const BATCHES = 60;
/** What thousands of refused calls may add to a daemon's resident memory. */
const RSS_GROWTH_LIMIT_BYTES = 150 * 1024 * 1024;
/** Cut inside the emoji at 64 UTF-16 units: the request that ended every daemon. */
const CUT_EMOJI = `${"a".repeat(63)}😀`;
const PAST_2_53 = 2n ** 53n + 1n;

const cluster = new Cluster();
let cp: Daemon;
let node: Daemon;
let provider: Daemon;
let up: Daemon;
let cpClient: WasmatrixClient;
let upClient: WasmatrixClient;
const raw: Client[] = [];

beforeAll(async () => {
  cp = await cluster.controlPlane();
  node = await cluster.nodeAgent({ nodeId: "chaos-node", controlPlane: cp.address });
  provider = await cluster.provider({
    capability: "keyvalue",
    providerId: "chaos-kv",
    controlPlane: cp.address,
  });
  const upAddress = `127.0.0.1:${await freePort()}`;
  const stateDir = mkdtempSync(join(tmpdir(), "wasmatrix-chaos-"));
  up = spawnDaemon(`up ${upAddress}`, upAddress, [
    "up",
    "--listen",
    upAddress,
    "--http",
    "off",
    "--state-dir",
    stateDir,
    "--log-level",
    "warn",
  ]);
  upClient = connect(upAddress, { timeoutMs: 10_000 });
  await untilServing(up, () => upClient.serverInfo());
  cpClient = cluster.client(cp.address);
  await cluster.nodesAlive(cpClient, ["chaos-node"]);
  await startReactor(cpClient, { instanceId: "healthy" });
  await startReactor(upClient, { instanceId: "healthy" });
}, 60_000);

afterAll(async () => {
  for (const client of raw) client.close();
  upClient?.close();
  await cluster.close();
  await up?.kill("SIGKILL");
});

function alive(daemon: Daemon): boolean {
  return daemon.child.exitCode === null && daemon.child.signalCode === null;
}

function client(daemon: Daemon): Client {
  const c = rawClient(daemon.address);
  raw.push(c);
  return c;
}

/** One typed request, sent as its own bytes; the daemon's answer. */
function typed<T>(c: Client, service: ServiceDefinition, method: string, request: T): Promise<Outcome> {
  return send(c, service, { method, body: Buffer.from(service[method]!.requestSerialize(request)) });
}

/**
 * Sends BATCH × BATCHES arbitrary calls and checks after every batch that the daemon lives.
 * Returns how often each gRPC status came back, and the INTERNAL answers (each one a bug).
 */
async function fuzz(daemon: Daemon, service: ServiceDefinition) {
  const c = client(daemon);
  const codes = new Map<number, number>();
  const internal: Outcome[] = [];
  const methods = new Set<string>();
  await fc.assert(
    fc.asyncProperty(
      fc.array(arbitraryCall(service), { minLength: BATCH, maxLength: BATCH }),
      async (calls) => {
        const outcomes = await Promise.all(calls.map((call) => send(c, service, call)));
        for (const outcome of outcomes) {
          codes.set(outcome.code, (codes.get(outcome.code) ?? 0) + 1);
          methods.add(outcome.method);
          if (outcome.code === 13) internal.push(outcome);
        }
        expect(alive(daemon), `${daemon.name} ended:\n${daemon.stderr()}`).toBe(true);
      },
    ),
    { numRuns: BATCHES, endOnFailure: true },
  );
  return { codes, internal, methods };
}

/** The daemon is alive, grew by less than the limit, and says so. */
function expectHealthy(daemon: Daemon, rssBefore: number) {
  expect(alive(daemon), daemon.stderr()).toBe(true);
  const rss = rssBytes(daemon.child.pid!);
  expect(rss - rssBefore, `${daemon.name}: RSS ${rssBefore} → ${rss} bytes`).toBeLessThan(
    RSS_GROWTH_LIMIT_BYTES,
  );
}

describe("chaos: arbitrary calls to every RPC of every daemon", () => {
  it("wasmatrix up survives them, stays bounded, and its healthy instance still answers", async () => {
    const service = pb.ControlPlaneService;
    const c = client(up);
    const rssBefore = rssBytes(up.child.pid!);
    const killer = await typed(c, service, "assignCapability", {
      instanceId: "healthy",
      assignment: { capability: CUT_EMOJI, provider: "", binding: "", permissions: [] },
    });
    expect(killer.code).toBe(3);
    const seq = await typed(c, service, "watchEvents", {
      afterSeq: PAST_2_53,
      instanceId: "",
      kinds: [],
      noFollow: true,
    });
    expect([seq.code, seq.details]).toEqual([3, expect.stringContaining("'afterSeq'")]);
    const { codes, internal, methods } = await fuzz(up, service);
    expect([...methods].sort()).toEqual(Object.keys(service).sort());
    expect(internal, JSON.stringify(internal.slice(0, 5))).toEqual([]);
    expectHealthy(up, rssBefore);
    const before = await count(upClient, "healthy");
    expect(await count(upClient, "healthy")).toBe(before + 1);
    console.log(`up: ${JSON.stringify([...codes])}, RSS ${rssBefore} → ${rssBytes(up.child.pid!)}`);
  }, 120_000);

  it("a control plane survives them, stays bounded, and still invokes its healthy instance", async () => {
    const service = pb.ControlPlaneService;
    const c = client(cp);
    const rssBefore = rssBytes(cp.child.pid!);
    const killer = await typed(c, service, "assignCapability", {
      instanceId: "healthy",
      assignment: { capability: CUT_EMOJI, provider: "", binding: "", permissions: [] },
    });
    expect(killer.code).toBe(3);
    const { codes, internal, methods } = await fuzz(cp, service);
    expect([...methods].sort()).toEqual(Object.keys(service).sort());
    expect(internal, JSON.stringify(internal.slice(0, 5))).toEqual([]);
    expectHealthy(cp, rssBefore);
    const before = await count(cpClient, "healthy");
    expect(await count(cpClient, "healthy")).toBe(before + 1);
    console.log(
      `control-plane: ${JSON.stringify([...codes])}, RSS ${rssBefore} → ${rssBytes(cp.child.pid!)}`,
    );
  }, 120_000);

  it("a node agent survives them, stays bounded, and still runs its healthy instance", async () => {
    const service = pb.NodeAgentService;
    const c = client(node);
    const rssBefore = rssBytes(node.child.pid!);
    const killer = await typed(c, service, "setAssignments", {
      instanceId: "healthy",
      assignments: [{ capability: CUT_EMOJI, provider: "", binding: "", permissions: [] }],
    });
    expect(killer.code).toBe(3);
    const facts = await typed(c, service, "listFacts", { afterSeq: PAST_2_53, limit: 0 });
    expect(facts.code).toBe(3);
    const { codes, internal, methods } = await fuzz(node, service);
    expect([...methods].sort()).toEqual(Object.keys(service).sort());
    expect(internal, JSON.stringify(internal.slice(0, 5))).toEqual([]);
    expectHealthy(node, rssBefore);
    const before = await count(cpClient, "healthy");
    expect(await count(cpClient, "healthy")).toBe(before + 1);
    console.log(`node-agent: ${JSON.stringify([...codes])}, RSS ${rssBefore} → ${rssBytes(node.child.pid!)}`);
  }, 120_000);

  it("a provider survives them, stays bounded, and still serves a live node's call", async () => {
    const service = pb.CapabilityProviderService;
    const c = client(provider);
    const rssBefore = rssBytes(provider.child.pid!);
    const request = (permissions: string[], operation: string, payload: unknown) => ({
      nodeId: "chaos-node",
      instanceId: "healthy",
      binding: "",
      operation,
      payload: Buffer.from(JSON.stringify(payload)),
      scope: "chaos",
      tenant: "",
      permissions,
      remainingMs: 5_000,
    });
    const killer = await typed(c, service, "call", request([CUT_EMOJI], "get", { key: "k" }));
    expect(killer.code).toBe(3);
    const { codes, internal, methods } = await fuzz(provider, service);
    expect([...methods].sort()).toEqual(Object.keys(service).sort());
    expect(internal, JSON.stringify(internal.slice(0, 5))).toEqual([]);
    expectHealthy(provider, rssBefore);
    const healthy = connectProvider(provider.address);
    try {
      await healthy.call(request(["kv:write"], "set", { key: "k", value: "v" }), 5_000);
      const got = await healthy.call(request(["kv:read"], "get", { key: "k" }), 5_000);
      expect(Buffer.from(got.payload).toString()).toBe("v");
    } finally {
      healthy.close();
    }
    console.log(
      `provider: ${JSON.stringify([...codes])}, RSS ${rssBefore} → ${rssBytes(provider.child.pid!)}`,
    );
  }, 120_000);
});

import { ErrorCode, WasmatrixError } from "@wasmatrix/core";
import { EtcdMetadata, NODES_PREFIX, type NodeRecord, PROVIDERS_PREFIX } from "@wasmatrix/etcd";
import { Etcd3 } from "etcd3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type EtcdServer, startEtcd } from "../support/etcd.js";
import { waitFor } from "./harness.js";

const node = (nodeId: string, extra: Partial<NodeRecord> = {}) => ({
  nodeId,
  address: "127.0.0.1:7401",
  labels: { zone: "a" },
  capabilities: ["logging", "keyvalue"],
  version: "1.0",
  ...extra,
});

async function codeOf(promise: Promise<unknown>): Promise<string | null> {
  try {
    await promise;
    return null;
  } catch (error) {
    return WasmatrixError.is(error) ? error.code : `not a WasmatrixError: ${(error as Error).message}`;
  }
}

/** A watch whose events land in arrays, for asserting on. */
async function recorder(metadata: EtcdMetadata) {
  const puts: NodeRecord[] = [];
  const deletes: string[] = [];
  const invalid: string[] = [];
  const watch = await metadata.watchNodes({
    onPut: (record) => puts.push(record),
    onDelete: (id) => deletes.push(id),
    onInvalid: (key) => invalid.push(key),
  });
  return { puts, deletes, invalid, watch };
}

describe("EtcdMetadata against a real etcd", () => {
  let etcd: EtcdServer;
  let raw: Etcd3;
  const opened: EtcdMetadata[] = [];
  const open = async () => {
    const metadata = await EtcdMetadata.connect({ endpoints: etcd.endpoints });
    opened.push(metadata);
    return metadata;
  };

  beforeAll(async () => {
    etcd = await startEtcd();
    raw = new Etcd3({ hosts: etcd.endpoints });
  });
  afterAll(async () => {
    await Promise.all(opened.map((m) => m.close()));
    raw?.close();
    await etcd?.stop();
  });

  it("lists and watches node records, and a revoked lease takes its key at once", async () => {
    const writer = await open();
    const reader = await open();
    const early = await writer.registerNode(node("early"), { ttlSeconds: 2 });
    const seen = await recorder(reader);
    expect(seen.puts.map((n) => n.nodeId)).toEqual(["early"]);

    const late = await writer.registerNode(node("late", { labels: { zone: "b" } }), { ttlSeconds: 2 });
    await waitFor("the watch to see 'late'", () => seen.puts.find((n) => n.nodeId === "late"));
    expect((await reader.listNodes()).map((n) => n.nodeId).sort()).toEqual(["early", "late"]);

    const revokedAt = Date.now();
    await late.revoke();
    await waitFor("the delete of 'late'", () => (seen.deletes.includes("late") ? true : undefined));
    expect(Date.now() - revokedAt).toBeLessThan(1_000);
    await early.revoke();
    await waitFor("the delete of 'early'", () => (seen.deletes.includes("early") ? true : undefined));
    await seen.watch.close();
  });

  it("lets a record whose keep-alives stop expire with its lease", async () => {
    const writer = await open();
    const seen = await recorder(await open());
    const registration = await writer.registerNode(node("silent"), { ttlSeconds: 2 });
    await waitFor("'silent' to be seen", () => seen.puts.find((n) => n.nodeId === "silent"));
    const stoppedAt = Date.now();
    registration.release();
    await waitFor("'silent' to expire", () => (seen.deletes.includes("silent") ? true : undefined), {
      timeoutMs: 6_000,
    });
    const expiredAfterMs = Date.now() - stoppedAt;
    console.log(`[etcd] a 2 s lease expired ${expiredAfterMs} ms after its keep-alives stopped`);
    expect(expiredAfterMs).toBeGreaterThan(1_000);
    expect(expiredAfterMs).toBeLessThan(3_500);
    await seen.watch.close();
  });

  it("writes a record again under a new lease when its lease is revoked behind its back", async () => {
    const writer = await open();
    const registration = await writer.registerNode(node("phoenix"), { ttlSeconds: 2 });
    const events: string[] = [];
    registration.onLost(() => events.push("lost"));
    registration.onRestored(() => events.push("restored"));
    const key = `${NODES_PREFIX}phoenix`;
    const [first] = (await raw.get(key).exec()).kvs;
    expect(first).toBeDefined();
    await raw.leaseClient.leaseRevoke({ ID: first!.lease });
    const again = await waitFor(
      "the record under a new lease",
      async () => {
        const [kv] = (await raw.get(key).exec()).kvs;
        return kv !== undefined && kv.lease !== first!.lease ? kv : undefined;
      },
      { timeoutMs: 5_000 },
    );
    expect(JSON.parse(again.value.toString())).toEqual(node("phoenix"));
    // The record can be seen in etcd a moment before the writer's put resolves and says so.
    await waitFor("the restored event", () => (events.includes("restored") ? true : undefined));
    expect(events).toEqual(["lost", "restored"]);
    await registration.revoke();
  });

  it("keeps provider metadata under its own prefix", async () => {
    const writer = await open();
    const providers: string[] = [];
    const watch = await (await open()).watchProviders({
      onPut: (p) => providers.push(p.providerId),
      onDelete: (id) => providers.push(`-${id}`),
    });
    const registration = await writer.putProvider(
      { providerId: "kv-main", capability: "keyvalue", address: "127.0.0.1:7500", version: "1.2.0" },
      { ttlSeconds: 2 },
    );
    expect(await writer.listProviders()).toEqual([
      { providerId: "kv-main", capability: "keyvalue", address: "127.0.0.1:7500", version: "1.2.0" },
    ]);
    expect(await raw.getAll().prefix(PROVIDERS_PREFIX).keys()).toEqual([`${PROVIDERS_PREFIX}kv-main`]);
    await waitFor("the provider put", () => (providers.includes("kv-main") ? true : undefined));
    await registration.revoke();
    await waitFor("the provider delete", () => (providers.includes("-kv-main") ? true : undefined));
    await watch.close();
  });

  it("refuses to write anything but node and provider metadata, and writes nothing when it refuses", async () => {
    const writer = await open();
    const before = await raw.getAll().keys();
    const refusals = await Promise.all([
      codeOf(writer.registerNode(node("../instances/x"))),
      codeOf(writer.registerNode(node("n1/instances"))),
      codeOf(writer.registerNode({ ...node("n1"), instances: [{ instanceId: "i1" }] })),
      codeOf(writer.registerNode({ ...node("n1"), facts: [] })),
      codeOf(writer.registerNode({ ...node("n1"), labels: { log: "x".repeat(4_000) } })),
      codeOf(
        writer.putProvider({
          providerId: "p1",
          capability: "keyvalue",
          address: "a:1",
          version: "1",
          data: "x",
        }),
      ),
      codeOf(
        writer.putProvider({ providerId: "local", capability: "keyvalue", address: "a:1", version: "1" }),
      ),
    ]);
    expect(refusals).toEqual(Array(refusals.length).fill(ErrorCode.INVALID_REQUEST));
    expect(await raw.getAll().keys()).toEqual(before);
  });

  it("ignores records under the prefix that some other writer put there", async () => {
    const reader = await open();
    await raw.put(`${NODES_PREFIX}junk`).value("not json");
    await raw.put(`${NODES_PREFIX}liar`).value(JSON.stringify(node("someone-else")));
    const seen = await recorder(reader);
    expect(seen.puts).toEqual([]);
    expect(seen.invalid.sort()).toEqual([`${NODES_PREFIX}junk`, `${NODES_PREFIX}liar`]);
    expect(await reader.listNodes()).toEqual([]);
    await raw.delete().prefix(NODES_PREFIX).exec();
    await seen.watch.close();
  });
});

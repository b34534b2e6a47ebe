import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseAssignment } from "./capabilities.js";
import { ErrorCode } from "./errors.js";
import type { InstanceMetadata, ProviderMetadata } from "./metadata.js";
import { INSTANCE_FIELDS, PROVIDER_FIELDS } from "./metadata.js";
import { MetadataRegistry } from "./registry.js";
import { DEFAULT_BACKOFF } from "./restart-policy.js";
import { expectCode } from "./test-support/expect-code.js";

const DIGEST = `sha256:${"ab".repeat(32)}`;

function instance(id: string, extra: Record<string, unknown> = {}) {
  return { instanceId: id, moduleDigest: DIGEST, ...extra };
}

function provider(id: string, extra: Record<string, unknown> = {}) {
  return { providerId: id, capability: "keyvalue", address: "127.0.0.1:7500", version: "1.0.0", ...extra };
}

// The same few strings serve as instance ids and provider ids, so any mix-up would show.
const id = fc.constantFrom("x1", "x2", "x3", "shared");
const op = fc.oneof(
  fc.record({ type: fc.constant("putInstance" as const), id }),
  fc.record({ type: fc.constant("removeInstance" as const), id }),
  fc.record({ type: fc.constant("putProvider" as const), id, version: fc.constantFrom("1.0.0", "2.0.0") }),
  fc.record({ type: fc.constant("removeProvider" as const), id }),
);

describe("metadata registry", () => {
  it("keeps instances and providers apart whatever the sequence of operations", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const registry = new MetadataRegistry({ now: () => 1 });
        const instances = new Map<string, true>();
        const providers = new Map<string, string>();
        for (const o of ops) {
          switch (o.type) {
            case "putInstance":
              if (instances.has(o.id))
                expectCode(() => registry.putInstance(instance(o.id)), ErrorCode.ALREADY_EXISTS);
              else registry.putInstance(instance(o.id));
              instances.set(o.id, true);
              break;
            case "removeInstance":
              if (instances.has(o.id)) registry.removeInstance(o.id);
              else expectCode(() => registry.removeInstance(o.id), ErrorCode.INSTANCE_NOT_FOUND);
              instances.delete(o.id);
              break;
            case "putProvider":
              registry.putProvider(provider(o.id, { version: o.version }));
              providers.set(o.id, o.version);
              break;
            case "removeProvider":
              if (providers.has(o.id)) registry.removeProvider(o.id);
              else expectCode(() => registry.removeProvider(o.id), ErrorCode.PROVIDER_NOT_FOUND);
              providers.delete(o.id);
              break;
          }
          for (const key of ["x1", "x2", "x3", "shared"]) {
            const inst = registry.getInstance(key);
            const prov = registry.getProvider(key);
            expect(inst !== undefined).toBe(instances.has(key));
            expect(prov?.version).toBe(providers.get(key));
            if (inst !== undefined) expect(Object.keys(inst)).not.toContain("providerId");
            if (prov !== undefined) expect(Object.keys(prov)).not.toContain("instanceId");
          }
          expect(registry.listInstances().map((i) => i.instanceId)).toEqual([...instances.keys()]);
          expect(registry.listProviders().map((p) => p.providerId)).toEqual([...providers.keys()]);
        }
      }),
      { numRuns: 150 },
    );
  });

  it("refuses application data: any field outside the allow-list is INVALID_REQUEST and stores nothing", () => {
    const extraKey = (allowed: ReadonlySet<string>) =>
      fc.string({ minLength: 1, maxLength: 16 }).filter((k) => !allowed.has(k));
    fc.assert(
      fc.property(extraKey(INSTANCE_FIELDS), extraKey(PROVIDER_FIELDS), fc.jsonValue(), (ik, pk, value) => {
        const registry = new MetadataRegistry();
        const a = expectCode(
          () => registry.putInstance(instance("i1", { [ik]: value }) as never),
          ErrorCode.INVALID_REQUEST,
        );
        expect(a.message).toContain("registry stores only metadata: field");
        const b = expectCode(
          () => registry.putProvider(provider("p1", { [pk]: value })),
          ErrorCode.INVALID_REQUEST,
        );
        expect(b.message).toContain("registry stores only metadata: field");
        expect(registry.instanceCount).toBe(0);
        expect(registry.providerCount).toBe(0);
      }),
      { numRuns: 150 },
    );
  });

  it("refuses application data hidden inside assignments and oversized strings", () => {
    const registry = new MetadataRegistry();
    expectCode(
      () =>
        registry.putInstance(
          instance("i1", {
            assignments: [{ capability: "keyvalue", permissions: [], cart: { items: 3 } }],
          }) as never,
        ),
      ErrorCode.INVALID_REQUEST,
    );
    expectCode(
      () => registry.putInstance(instance("i1", { labels: { note: "x".repeat(129) } }) as never),
      ErrorCode.INVALID_REQUEST,
    );
    const tooMany = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, "v"]));
    expectCode(
      () => registry.putInstance(instance("i1", { labels: tooMany }) as never),
      ErrorCode.INVALID_REQUEST,
    );
    expectCode(() => registry.putInstance(instance("x".repeat(129))), ErrorCode.INVALID_REQUEST);
    expectCode(
      () => registry.putProvider(provider("p1", { version: "v".repeat(65) })),
      ErrorCode.INVALID_REQUEST,
    );
    expectCode(
      () => registry.putProvider(provider("p1", { address: "a".repeat(257) })),
      ErrorCode.INVALID_REQUEST,
    );
    expectCode(() => registry.putProvider(provider("local")), ErrorCode.INVALID_REQUEST);
    expect(registry.instanceCount + registry.providerCount).toBe(0);
  });

  it("fills defaults, stamps times with the injected clock and hands out frozen records", () => {
    let now = 10;
    const registry = new MetadataRegistry({ now: () => now });
    const created = registry.putInstance(instance("i1", { labels: { app: "shop" } }));
    expect(created).toEqual({
      instanceId: "i1",
      moduleDigest: DIGEST,
      nodeId: null,
      status: "pending",
      restartPolicy: DEFAULT_BACKOFF,
      assignments: [],
      labels: { app: "shop" },
      createdAt: 10,
      updatedAt: 10,
    } satisfies Record<keyof InstanceMetadata, unknown>);
    expect(Object.isFrozen(created)).toBe(true);
    now = 20;
    const placed = registry.place("i1", "node-1");
    expect(placed).toMatchObject({ nodeId: "node-1", createdAt: 10, updatedAt: 20 });
    expect(created.nodeId).toBeNull();
  });

  it("moves status only along the transition table, leaving the record unchanged on refusal", () => {
    const registry = new MetadataRegistry();
    registry.putInstance(instance("i1"));
    expect(registry.updateStatus("i1", "starting").status).toBe("starting");
    const before = registry.requireInstance("i1");
    const failure = expectCode(() => registry.updateStatus("i1", "completed"), ErrorCode.FAILED_PRECONDITION);
    expect(failure.details).toEqual({ from: "starting", to: "completed" });
    expect(registry.requireInstance("i1")).toBe(before);
    expectCode(() => registry.updateStatus("nope", "starting"), ErrorCode.INSTANCE_NOT_FOUND);
  });

  it("filters instances by status, node, digest and labels", () => {
    const registry = new MetadataRegistry();
    registry.putInstance(instance("i1", { nodeId: "n1", labels: { app: "a" } }));
    registry.putInstance(instance("i2", { nodeId: "n2", status: "running", labels: { app: "b" } }));
    registry.putInstance(instance("i3"));
    const ids = (list: InstanceMetadata[]) => list.map((i) => i.instanceId);
    expect(ids(registry.listInstances({ status: "running" }))).toEqual(["i2"]);
    expect(ids(registry.listInstances({ status: ["running", "pending"] }))).toEqual(["i1", "i2", "i3"]);
    expect(ids(registry.listInstances({ nodeId: null }))).toEqual(["i3"]);
    expect(ids(registry.listInstances({ nodeId: "n1" }))).toEqual(["i1"]);
    expect(ids(registry.listInstances({ labels: { app: "b" } }))).toEqual(["i2"]);
    expect(ids(registry.listInstances({ moduleDigest: DIGEST }))).toHaveLength(3);
  });

  it("assigns and revokes capabilities, checking the provider and refusing duplicate bindings", () => {
    const registry = new MetadataRegistry();
    registry.putInstance(instance("i1"));
    registry.putProvider(provider("redis-1"));
    registry.putProvider(provider("nats-1", { capability: "messaging" }));

    registry.assign("i1", parseAssignment("keyvalue@redis-1=kv:read"));
    registry.assign("i1", { capability: "keyvalue", binding: "scratch", permissions: ["kv:write"] });
    expect(registry.requireInstance("i1").assignments).toHaveLength(2);
    expectCode(() => registry.assign("i1", parseAssignment("keyvalue=kv:list")), ErrorCode.ALREADY_EXISTS);
    expectCode(
      () => registry.assign("i1", parseAssignment("http@ghost=http:request")),
      ErrorCode.PROVIDER_NOT_FOUND,
    );
    expectCode(
      () => registry.assign("i1", parseAssignment("keyvalue@nats-1#x=kv:read")),
      ErrorCode.INVALID_REQUEST,
    );

    const { instance: after, revoked } = registry.revoke("i1", "keyvalue");
    expect(revoked.provider).toBe("redis-1");
    expect(after.assignments.map((a) => a.binding)).toEqual(["scratch"]);
    expectCode(() => registry.revoke("i1", "keyvalue"), ErrorCode.CAPABILITY_NOT_ASSIGNED);
    expectCode(() => registry.assign("ghost", parseAssignment("logging")), ErrorCode.INSTANCE_NOT_FOUND);
  });

  it("replaces a re-registered provider and lists providers by capability and node", () => {
    const registry = new MetadataRegistry();
    registry.putProvider(provider("p1"));
    registry.putProvider(provider("p1", { version: "1.1.0", nodeId: "n1" }));
    registry.putProvider(provider("p2", { capability: "http" }));
    expect(registry.requireProvider("p1")).toEqual({
      providerId: "p1",
      capability: "keyvalue",
      address: "127.0.0.1:7500",
      version: "1.1.0",
      nodeId: "n1",
    } satisfies Record<keyof ProviderMetadata, unknown>);
    expect(registry.listProviders({ capability: "http" }).map((p) => p.providerId)).toEqual(["p2"]);
    expect(registry.listProviders({ nodeId: "n1" }).map((p) => p.providerId)).toEqual(["p1"]);
    expectCode(() => registry.requireProvider("p9"), ErrorCode.PROVIDER_NOT_FOUND);
  });

  it("refuses registrations past its caps with RESOURCE_EXHAUSTED", () => {
    const registry = new MetadataRegistry({ maxInstances: 2, maxProviders: 1 });
    registry.putInstance(instance("i1"));
    registry.putInstance(instance("i2"));
    expectCode(() => registry.putInstance(instance("i3")), ErrorCode.RESOURCE_EXHAUSTED);
    registry.putProvider(provider("p1"));
    registry.putProvider(provider("p1", { version: "2.0.0" }));
    expectCode(() => registry.putProvider(provider("p2")), ErrorCode.RESOURCE_EXHAUSTED);
  });
});

import { parsePermission, tenantScope } from "@wasmatrix/core";
import { MemoryKeyvalueProvider } from "@wasmatrix/providers";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NodeAgent } from "./agent.js";
import { scopeOf } from "./capability-router.js";
import { viewToProto } from "./convert.js";
import { capabilityCall, guests } from "./test-support/guests.js";

const decoder = new TextDecoder();
const permissions = ["kv:read", "kv:write", "kv:list", "kv:delete"].map((p) => parsePermission(p));
const SECRET = "tenant-b-secret";

/** Keys a guest might build to climb out of its scope: none of them may reach another tenant's data. */
const trickyKey = fc.oneof(
  fc.constantFrom(
    "..",
    "../b",
    "../../tenant/b/binding/shared/k",
    "tenant/b/binding/shared/k",
    "/tenant/b/binding/shared/k",
    "binding/shared/k",
    "*",
    ">",
    "k*",
    "k.>",
    "k\u0000",
    "\u0000tenant/b",
    "k",
    "κλειδί",
    "🔑",
    "k".repeat(4096),
  ),
  fc.string({ unit: "grapheme", maxLength: 64 }),
  fc.string({ unit: "binary", maxLength: 64 }),
);

describe("tenants' keyvalue", () => {
  let agent: NodeAgent;
  let kv: MemoryKeyvalueProvider;

  beforeAll(async () => {
    kv = new MemoryKeyvalueProvider();
    agent = new NodeAgent({ nodeId: "tenants", runtime: { workers: 1 }, providers: [kv] });
    const module = await guests.proxy();
    for (const [id, tenant] of [
      ["a", "a"],
      ["b", "b"],
    ] as const) {
      await agent.start({
        instanceId: id,
        module,
        tenant,
        assignments: [
          { capability: "keyvalue", provider: "local", binding: "shared", permissions },
          { capability: "keyvalue", provider: "local", binding: "default", permissions },
        ],
      });
    }
  }, 60_000);
  afterAll(() => agent.close(200));

  async function call(id: string, binding: string, operation: string, payload: unknown) {
    const result = await agent.invoke(
      id,
      "call",
      capabilityCall(binding, "wasmatrix:keyvalue", operation, payload),
    );
    return { ok: result.guestError === undefined, text: decoder.decode(result.response ?? new Uint8Array()) };
  }

  it("puts every tenant's scopes under its own prefix, the default tenant's where they were", () => {
    const shared = {
      capability: "keyvalue" as const,
      provider: "local" as const,
      binding: "shared",
      permissions,
    };
    expect(scopeOf("x", shared)).toBe("binding/shared");
    expect(scopeOf("x", shared, "default")).toBe("binding/shared");
    expect(scopeOf("x", shared, "a")).toBe(tenantScope("a", "binding/shared"));
    expect(scopeOf("x", shared, "a")).not.toBe(scopeOf("x", shared, "b"));
  });

  it("never lets tenant A's guest read, list or overwrite tenant B's keys, whatever key it builds", async () => {
    await fc.assert(
      fc.asyncProperty(trickyKey, fc.constantFrom("shared", "default"), async (key, binding) => {
        // B writes the key under both of its bindings; A then tries every way to reach it.
        for (const b of ["shared", "default"]) {
          const set = await call("b", b, "set", { key, value: SECRET });
          if (!set.ok) return; // a key the provider refuses for everyone (too long…) is no leak
        }
        const got = await call("a", binding, "get", { key });
        expect(got.text).not.toContain(SECRET);
        // A deletes what it writes, so its scope lists nothing but what leaked in.
        expect((await call("a", binding, "list", { prefix: "" })).text).toBe("[]");
        await call("a", binding, "set", { key, value: "from-a" });
        await call("a", binding, "delete", { key });
        for (const b of ["shared", "default"]) {
          expect((await call("b", b, "get", { key })).text, `B's '${key}' under ${b}`).toContain(SECRET);
        }
      }),
      { numRuns: 150 },
    );
    // Everything A wrote stayed in A's scopes: no key of B's scopes changed hands.
    for (const scope of [tenantScope("b", "binding/shared"), tenantScope("b", "instance/b")]) {
      for (const k of kv.keys(scope))
        expect(decoder.decode(kv.handleSync(scope, "get", enc({ key: k }))), k).toContain(SECRET);
    }
  }, 180_000);

  it("counts a guest's refused calls where inspect shows them (the instance's deniedCalls)", async () => {
    const before = viewToProto(agent.get("a")).deniedCalls;
    // Messaging is not assigned to it: refused before any provider sees the call, and counted.
    const viaMessaging = await agent.invoke(
      "a",
      "call",
      capabilityCall("default", "wasmatrix:messaging", "publish", { subject: "tenant.b.orders", data: "x" }),
    );
    expect(viaMessaging.guestError).toBeDefined();
    expect(viewToProto(agent.get("a")).deniedCalls).toBe(before + 1);
    expect(viewToProto(agent.get("a")).tenant).toBe("a");
  });
});

function enc(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}

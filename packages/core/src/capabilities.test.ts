import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  CAPABILITY_KINDS,
  CAPABILITY_NAMESPACES,
  type CapabilityAssignment,
  capabilityOfNamespace,
  formatAssignment,
  namespaceOf,
  parseAssignment,
  validateAssignment,
  validateAssignments,
} from "./capabilities.js";
import { ErrorCode } from "./errors.js";
import { ProviderId } from "./ids.js";
import { parsePermission } from "./permissions.js";
import { expectCode } from "./test-support/expect-code.js";

const PERMISSIONS_BY_CAPABILITY: Record<string, string[]> = {
  keyvalue: ["kv:read", "kv:write", "kv:delete", "kv:list"],
  http: ["http:request", "http:domain:example.com", "http:domain:*.example.com", "http:domain:api.b.io"],
  messaging: ["msg:publish:orders.*", "msg:subscribe:orders.>", "msg:publish:a.b", "msg:subscribe:>"],
  logging: [],
  filesystem: ["fs:read:/data", "fs:write:/data", "fs:read:/etc/app", "fs:write:/"],
};

const assignment: fc.Arbitrary<CapabilityAssignment> = fc
  .record({
    capability: fc.constantFrom(...CAPABILITY_KINDS),
    provider: fc.constantFrom("local", "redis-1", "nats.eu"),
    binding: fc.constantFrom("default", "cache", "b-2"),
    picks: fc.array(fc.nat(3), { maxLength: 4 }),
  })
  .map(({ capability, provider, binding, picks }) => {
    const pool = PERMISSIONS_BY_CAPABILITY[capability]!;
    const texts = pool.length === 0 ? [] : [...new Set(picks.map((i) => pool[i % pool.length]!))];
    return validateAssignment({ capability, provider, binding, permissions: texts });
  });

describe("capability namespaces", () => {
  it("map each capability to wasmatrix:<capability> and back", () => {
    for (const kind of CAPABILITY_KINDS) {
      expect(namespaceOf(kind)).toBe(`wasmatrix:${kind}`);
      expect(capabilityOfNamespace(CAPABILITY_NAMESPACES[kind])).toBe(kind);
    }
    expect(capabilityOfNamespace("wasmatrix:fs")).toBeNull();
    expect(capabilityOfNamespace("keyvalue")).toBeNull();
  });
});

describe("assignment syntax", () => {
  it("round-trips: parse(format(a)) equals a", () => {
    fc.assert(
      fc.property(assignment, (a) => {
        expect(parseAssignment(formatAssignment(a))).toEqual(a);
      }),
      { numRuns: 200 },
    );
  });

  it("reads capability, provider, binding and permissions, with local and default as defaults", () => {
    expect(parseAssignment("keyvalue=kv:read,kv:write")).toEqual({
      capability: "keyvalue",
      provider: "local",
      binding: "default",
      permissions: [parsePermission("kv:read"), parsePermission("kv:write")],
    });
    expect(parseAssignment("keyvalue@redis-1#cache=kv:read")).toMatchObject({
      provider: ProviderId.parse("redis-1"),
      binding: "cache",
    });
    expect(parseAssignment("http=http:domain:*.example.com").permissions).toEqual([
      { kind: "http", scope: "domain", pattern: "*.example.com" },
    ]);
    expect(parseAssignment("logging")).toMatchObject({ capability: "logging", permissions: [] });
    expect(parseAssignment("keyvalue=kv:read,kv:read").permissions).toHaveLength(1);
  });

  it.each([
    ["", "cannot be empty"],
    ["kv=kv:read", "capabilities: keyvalue"],
    ["keyvalue:kv:read,kv:write", "permissions follow '='"],
    ["keyvalue=", "no permissions"],
    ["keyvalue=kv:reed", "kv actions are"],
    ["keyvalue=http:request", "belongs to http, not keyvalue"],
    ["logging=kv:read", "logging capability takes no permissions"],
    ["keyvalue@#x=kv:read", "provider id must be a non-empty string"],
    ["keyvalue@bad id=kv:read", "provider id"],
    ["keyvalue#=kv:read", "binding must be"],
    ["keyvalue#a b=kv:read", "binding 'a b'"],
    ["http=http:domain:*", "http:request"],
  ])("refuses %j with INVALID_REQUEST saying what is wrong", (spec, fragment) => {
    const failure = expectCode(() => parseAssignment(spec), ErrorCode.INVALID_REQUEST);
    expect(failure.message).toContain(fragment);
  });

  it("refuses assignments with unknown fields and duplicate bindings", () => {
    const failure = expectCode(
      () => validateAssignment({ capability: "keyvalue", permissions: [], secret: "x" }),
      ErrorCode.INVALID_REQUEST,
    );
    expect(failure.message).toContain("field 'secret' is not allowed");
    expectCode(
      () =>
        validateAssignments([parseAssignment("keyvalue=kv:read"), parseAssignment("keyvalue@p1=kv:write")]),
      ErrorCode.INVALID_REQUEST,
    );
    expect(
      validateAssignments([parseAssignment("keyvalue"), parseAssignment("keyvalue#other")]),
    ).toHaveLength(2);
  });
});

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { authorizeHostCall, authorizeRequest, resolveAssignment } from "./authorization.js";
import { parseAssignment, validateAssignment } from "./capabilities.js";
import { ErrorCode } from "./errors.js";
import type { Permission } from "./permissions.js";
import { expectCode } from "./test-support/expect-code.js";

describe("host call authorization", () => {
  const assignments = [
    parseAssignment("keyvalue=kv:read"),
    parseAssignment("keyvalue#audit=kv:write"),
    parseAssignment("logging"),
  ];

  it("routes to the assignment named by namespace and binding when its permissions allow the call", () => {
    const chosen = authorizeHostCall(
      assignments,
      { namespace: "wasmatrix:keyvalue", binding: "audit" },
      {
        kind: "kv",
        action: "write",
      },
    );
    expect(chosen.binding).toBe("audit");
    expect(
      authorizeHostCall(assignments, { namespace: "wasmatrix:logging", binding: "" }, null).capability,
    ).toBe("logging");
  });

  it("throws CAPABILITY_NOT_ASSIGNED without an assignment and PERMISSION_DENIED without a permission", () => {
    expectCode(
      () => authorizeHostCall(assignments, { namespace: "wasmatrix:http" }, { kind: "http", host: "a.com" }),
      ErrorCode.CAPABILITY_NOT_ASSIGNED,
    );
    expectCode(
      () => authorizeHostCall(assignments, { namespace: "wasmatrix:fs" }, { kind: "kv", action: "read" }),
      ErrorCode.CAPABILITY_NOT_ASSIGNED,
    );
    expectCode(
      () =>
        authorizeHostCall(
          assignments,
          { namespace: "wasmatrix:keyvalue", binding: "nope" },
          { kind: "kv", action: "read" },
        ),
      ErrorCode.CAPABILITY_NOT_ASSIGNED,
    );
    const denied = expectCode(
      () =>
        authorizeHostCall(assignments, { namespace: "wasmatrix:keyvalue" }, { kind: "kv", action: "write" }),
      ErrorCode.PERMISSION_DENIED,
    );
    expect(denied.details).toMatchObject({
      capability: "keyvalue",
      operation: "write",
      required: "kv:write",
    });
  });

  it("never authorizes a call that no permission of the chosen assignment allows", () => {
    const kvAction = fc.constantFrom("read", "write", "delete", "list") as fc.Arbitrary<
      Extract<Permission, { kind: "kv" }>["action"]
    >;
    fc.assert(
      fc.property(
        fc.subarray(["kv:read", "kv:write", "kv:delete", "kv:list"]),
        kvAction,
        (granted, action) => {
          const list = [validateAssignment({ capability: "keyvalue", permissions: granted })];
          const call = () =>
            authorizeHostCall(list, { namespace: "wasmatrix:keyvalue" }, { kind: "kv", action });
          if (granted.includes(`kv:${action}`)) expect(call().capability).toBe("keyvalue");
          else expectCode(call, ErrorCode.PERMISSION_DENIED);
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe("the two steps of the decision", () => {
  const assignments = [
    parseAssignment("keyvalue#cache=kv:read"),
    parseAssignment("messaging=msg:publish:a.*"),
  ];

  it("names the instance and the command that would assign what is missing", () => {
    const missing = expectCode(
      () => resolveAssignment(assignments, { namespace: "wasmatrix:http", instanceId: "web" }),
      ErrorCode.CAPABILITY_NOT_ASSIGNED,
    );
    expect(missing.message).toContain("wasmatrix caps assign web http=<permissions>");
    expect(missing.details).toMatchObject({ capability: "http", instanceId: "web", binding: "default" });
  });

  it("refuses a provider-side grant with the same detail as the node's router gives", () => {
    const assignment = resolveAssignment(assignments, { namespace: "wasmatrix:keyvalue", binding: "cache" });
    const denied = expectCode(
      () => authorizeRequest(assignment, { kind: "kv", action: "write" }, { instanceId: "web" }),
      ErrorCode.PERMISSION_DENIED,
    );
    const asProviderSees = expectCode(
      () =>
        authorizeRequest(
          { capability: "keyvalue", permissions: assignment.permissions, binding: "cache" },
          { kind: "kv", action: "write" },
          { instanceId: "web" },
        ),
      ErrorCode.PERMISSION_DENIED,
    );
    expect(asProviderSees.details).toEqual(denied.details);
    expect(denied.details).toMatchObject({ binding: "cache", instanceId: "web", required: "kv:write" });
  });

  it("treats a request of another capability's kind as a bug, not a denial", () => {
    const assignment = resolveAssignment(assignments, { namespace: "wasmatrix:messaging" });
    expectCode(() => authorizeRequest(assignment, { kind: "kv", action: "read" }), ErrorCode.INTERNAL);
  });
});

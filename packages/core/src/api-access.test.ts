import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { API_RULES, authorizeCall, rpcName } from "./api-access.js";
import { type Caller, ROLES, type Role } from "./caller.js";
import { ErrorCode } from "./errors.js";
import { expectCode } from "./test-support/expect-code.js";

const paths = Object.keys(API_RULES);
const path = fc.constantFrom(...paths);
const role = fc.constantFrom(...ROLES);
const tenant = fc.option(fc.constantFrom("shop", "blog"), { nil: undefined });
const tokenCaller = fc.record({ role, tenant }).map(
  ({ role, tenant }): Caller => ({
    token: { tokenId: "tok_1", role: role as Role, ...(tenant === undefined ? {} : { tenant }) },
  }),
);
const required = { requireCredentials: true };

describe("the API access table", () => {
  it("lets everything through on a server without --auth, and scopes nothing", () => {
    fc.assert(
      fc.property(path, (p) => {
        expect(authorizeCall(p, {}, { requireCredentials: false })).toEqual({});
      }),
    );
  });

  it("refuses a call without credentials with UNAUTHENTICATED on a server with --auth", () => {
    fc.assert(
      fc.property(path, (p) => {
        expectCode(() => authorizeCall(p, {}, required), ErrorCode.UNAUTHENTICATED);
      }),
    );
  });

  it("lets a token through exactly when its role is listed and its tenant fits the RPC", () => {
    fc.assert(
      fc.property(path, tokenCaller, (p, caller) => {
        const rule = API_RULES[p]!;
        const token = caller.token!;
        const allowed =
          rule.roles.includes(token.role) && !(token.tenant !== undefined && rule.tenancy === "cluster");
        if (allowed) {
          const scope = authorizeCall(p, caller, required);
          expect(scope.tenant).toBe(rule.tenancy === "tenant" ? token.tenant : undefined);
        } else {
          expectCode(() => authorizeCall(p, caller, required), ErrorCode.PERMISSION_DENIED);
        }
      }),
    );
  });

  it("gives the admin role every RPC a role may call at all", () => {
    for (const [p, rule] of Object.entries(API_RULES)) {
      if (rule.roles.length > 0) expect(rule.roles, p).toContain("admin");
    }
  });

  it("lets a daemon's certificate through only on the RPCs its kind is listed for", () => {
    const identity = fc.constantFrom(
      { kind: "node" as const, id: "n1" },
      { kind: "provider" as const, id: "p1" },
      { kind: "control-plane" as const },
    );
    fc.assert(
      fc.property(path, identity, (p, certificate) => {
        const listed = API_RULES[p]!.identities.includes(certificate.kind);
        if (listed) expect(authorizeCall(p, { certificate }, required)).toEqual({});
        else expectCode(() => authorizeCall(p, { certificate }, required), ErrorCode.UNAUTHENTICATED);
      }),
    );
  });

  it("never lets a client certificate stand in for a token", () => {
    fc.assert(
      fc.property(path, (p) => {
        expectCode(
          () => authorizeCall(p, { certificate: { kind: "client", name: "ann" } }, required),
          ErrorCode.UNAUTHENTICATED,
        );
      }),
    );
  });

  it("refuses an RPC it has no rule for, whoever calls", () => {
    expectCode(
      () =>
        authorizeCall(
          "/wasmatrix.v1.ControlPlane/Unknown",
          { token: { tokenId: "t", role: "admin" } },
          required,
        ),
      ErrorCode.PERMISSION_DENIED,
    );
  });

  it("keeps provider calls for nodes: no token, not even an admin's, is enough", () => {
    expectCode(
      () =>
        authorizeCall(
          "/wasmatrix.v1.CapabilityProvider/Call",
          { token: { tokenId: "t", role: "admin" } },
          required,
        ),
      ErrorCode.PERMISSION_DENIED,
    );
  });

  it("names RPCs as Service.Method in messages", () => {
    expect(rpcName("/wasmatrix.v1.ControlPlane/StartInstance")).toBe("ControlPlane.StartInstance");
    expect(rpcName("odd")).toBe("odd");
  });
});

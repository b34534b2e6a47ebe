import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { CertificateIdentity } from "./caller.js";
import { ErrorCode } from "./errors.js";
import { assertIdentity, decideIdentity, IDENTITY_RULES, type IdentityKind } from "./identity-rules.js";
import { expectCode } from "./test-support/expect-code.js";

const id = fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,20}$/);
const identity: fc.Arbitrary<CertificateIdentity> = fc.oneof(
  id.map((v) => ({ kind: "node" as const, id: v })),
  id.map((v) => ({ kind: "provider" as const, id: v })),
  fc.constant({ kind: "control-plane" as const }),
  id.map((v) => ({ kind: "client" as const, name: v })),
);
const rpc = fc.constantFrom(...Object.keys(IDENTITY_RULES));

describe("the mTLS identity rules", () => {
  it("let a node register, report and leave as its own id", () => {
    const n1: CertificateIdentity = { kind: "node", id: "n1" };
    expect(decideIdentity("ControlPlane.RegisterNode", n1, { node: { nodeId: "n1" } })).toEqual({
      allowed: true,
    });
    expect(decideIdentity("ControlPlane.ReportStatus", n1, { nodeId: "n1" })).toEqual({ allowed: true });
    expect(decideIdentity("ControlPlane.DeregisterNode", n1, { nodeId: "n1" })).toEqual({ allowed: true });
  });

  it("refuse a node acting as another node's id, with PERMISSION_DENIED", () => {
    fc.assert(
      fc.property(id, id, (own, claimed) => {
        fc.pre(own !== claimed);
        const cert: CertificateIdentity = { kind: "node", id: own };
        for (const [name, request] of [
          ["ControlPlane.RegisterNode", { node: { nodeId: claimed } }],
          ["ControlPlane.ReportStatus", { nodeId: claimed }],
          ["ControlPlane.DeregisterNode", { nodeId: claimed }],
        ] as const) {
          expect(decideIdentity(name, cert, request)).toMatchObject({
            allowed: false,
            code: ErrorCode.PERMISSION_DENIED,
          });
        }
      }),
    );
  });

  it("let a provider register only as itself", () => {
    const kv: CertificateIdentity = { kind: "provider", id: "kv-1" };
    expect(
      decideIdentity("ControlPlane.RegisterProvider", kv, { provider: { providerId: "kv-1" } }).allowed,
    ).toBe(true);
    expect(
      decideIdentity("ControlPlane.RegisterProvider", kv, { provider: { providerId: "kv-2" } }).allowed,
    ).toBe(false);
    expect(decideIdentity("ControlPlane.RegisterProvider", kv, {}).allowed).toBe(false);
  });

  it("refuse every call without a certificate with UNAUTHENTICATED", () => {
    fc.assert(
      fc.property(rpc, fc.anything(), (name, request) => {
        expect(decideIdentity(name, undefined, request)).toMatchObject({
          allowed: false,
          code: ErrorCode.UNAUTHENTICATED,
        });
      }),
    );
  });

  it("refuse every kind a rule does not name, whatever the request says", () => {
    fc.assert(
      fc.property(rpc, identity, fc.anything(), (name, cert, request) => {
        const rule = IDENTITY_RULES[name]!;
        const decision = decideIdentity(name, cert, request);
        if (!rule.kinds.includes(cert.kind)) {
          expect(decision).toMatchObject({ allowed: false, code: ErrorCode.PERMISSION_DENIED });
        } else if (rule.sameId === undefined) {
          expect(decision).toEqual({ allowed: true });
        }
      }),
    );
  });

  it("give node agents' control calls to control planes only, and provider calls to nodes only", () => {
    const only = (prefix: string, kinds: IdentityKind[]) => {
      const names = Object.keys(IDENTITY_RULES).filter((n) => n.startsWith(prefix));
      expect(names.length).toBeGreaterThan(0);
      return names
        .map((n) => [n, IDENTITY_RULES[n]!.kinds] as const)
        .filter(([, k]) => k.join() !== kinds.join());
    };
    expect(only("NodeAgent.", ["control-plane"])).toEqual([]);
    expect(IDENTITY_RULES["CapabilityProvider.Call"]!.kinds).toEqual(["node"]);
  });

  it("refuse an RPC without a rule", () => {
    expect(decideIdentity("ControlPlane.Nothing", { kind: "control-plane" }, {})).toMatchObject({
      allowed: false,
      code: ErrorCode.PERMISSION_DENIED,
    });
  });

  it("throw the refusal as a WasmatrixError naming the rpc and the caller", () => {
    expectCode(
      () => assertIdentity("NodeAgent.SetAssignments", { kind: "client", name: "eve" }, {}),
      ErrorCode.PERMISSION_DENIED,
    );
    expectCode(() => assertIdentity("NodeAgent.SetAssignments", undefined, {}), ErrorCode.UNAUTHENTICATED);
  });
});

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type CertificateIdentity,
  describeCaller,
  formatCertificateIdentity,
  parseCertificateIdentity,
} from "./caller.js";

const name = fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,30}$/);
const identity: fc.Arbitrary<CertificateIdentity> = fc.oneof(
  name.map((id) => ({ kind: "node" as const, id })),
  name.map((id) => ({ kind: "provider" as const, id })),
  fc.constant({ kind: "control-plane" as const }),
  name.map((n) => ({ kind: "client" as const, name: n })),
);

describe("caller identities", () => {
  it("read back every identity they write", () => {
    fc.assert(
      fc.property(identity, (id) => {
        expect(parseCertificateIdentity(formatCertificateIdentity(id))).toEqual(id);
      }),
    );
  });

  it("are not read from URIs of other kinds", () => {
    for (const uri of [
      "https://node:1",
      "node:",
      "node:a/b",
      "control-plane:x",
      "spiffe://x",
      "nodes:a",
      ":a",
    ]) {
      expect(parseCertificateIdentity(uri), uri).toBeUndefined();
    }
  });

  it("name a caller by token first, then certificate, else anonymous", () => {
    expect(describeCaller({})).toBe("anonymous");
    expect(describeCaller({ certificate: { kind: "control-plane" } })).toBe("control-plane");
    expect(describeCaller({ certificate: { kind: "node", id: "n1" } })).toBe("node:n1");
    expect(
      describeCaller({
        certificate: { kind: "client", name: "ci" },
        token: { tokenId: "t1", role: "reader" },
      }),
    ).toBe("token:t1");
  });
});

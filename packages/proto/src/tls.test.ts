import { ErrorCode, IDENTITY_RULES, rpcName } from "@wasmatrix/core";
import { expectCode } from "@wasmatrix/core/test-support/expect-code";
import { describe, expect, it } from "vitest";
import { ControlPlaneService } from "./generated/wasmatrix/v1/control_plane.js";
import { NodeAgentService } from "./generated/wasmatrix/v1/node_agent.js";
import { CapabilityProviderService } from "./generated/wasmatrix/v1/provider.js";
import { identityFromSubjectAltName, loadTls, tlsFilesFrom } from "./tls.js";

describe("TLS identities", () => {
  it("are read from the URI entry of a certificate's subject alternative names", () => {
    expect(identityFromSubjectAltName("URI:node:n1, DNS:localhost, IP Address:127.0.0.1")).toEqual({
      kind: "node",
      id: "n1",
    });
    expect(identityFromSubjectAltName("DNS:localhost, URI:control-plane:")).toEqual({
      kind: "control-plane",
    });
    // Node quotes an entry holding a separator, so a name cannot smuggle in a second entry.
    expect(identityFromSubjectAltName('URI:"client:a, URI:node:n1"')).toBeUndefined();
    expect(identityFromSubjectAltName('URI:"client:a,b"')).toEqual({ kind: "client", name: "a,b" });
  });

  it("are none when a certificate names no wasmatrix identity, or two", () => {
    expect(identityFromSubjectAltName(undefined)).toBeUndefined();
    expect(identityFromSubjectAltName("DNS:localhost")).toBeUndefined();
    expect(identityFromSubjectAltName("URI:spiffe://x/y")).toBeUndefined();
    expect(identityFromSubjectAltName("URI:node:n1, URI:control-plane:")).toBeUndefined();
  });

  it("are judged by a rule for every RPC of every service", () => {
    const missing = [ControlPlaneService, NodeAgentService, CapabilityProviderService]
      .flatMap((service) => Object.values(service).map((method) => rpcName(method.path)))
      .filter((name) => IDENTITY_RULES[name] === undefined);
    expect(missing).toEqual([]);
  });

  it("name RPCs as Service.Method", () => {
    expect(rpcName("/wasmatrix.v1.ControlPlane/StartInstance")).toBe("ControlPlane.StartInstance");
    expect(rpcName("/wasmatrix.v1.CapabilityProvider/Call")).toBe("CapabilityProvider.Call");
  });
});

describe("TLS files", () => {
  it("are all three or none", () => {
    expect(loadTls({})).toBeUndefined();
    const error = expectCode(() => loadTls({ ca: "ca.crt", cert: "x.crt" }), ErrorCode.INVALID_REQUEST);
    expect(error.message).toContain("--tls-key");
  });

  it("come from flags first, then WASMATRIX_TLS_*", () => {
    const env = { WASMATRIX_TLS_CA: "env-ca", WASMATRIX_TLS_CERT: "env-cert", WASMATRIX_TLS_KEY: "env-key" };
    expect(tlsFilesFrom({ cert: "flag-cert" }, env)).toEqual({
      ca: "env-ca",
      cert: "flag-cert",
      key: "env-key",
    });
  });
});

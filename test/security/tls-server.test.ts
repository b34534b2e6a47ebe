import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Caller, ErrorCode } from "@wasmatrix/core";
import * as pb from "@wasmatrix/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initAuthority, issueCertificate, listAuthority } from "../../packages/cli/src/certs/authority.js";
import { failure } from "../cluster/harness.js";

/**
 * One gRPC server with mutual TLS on 127.0.0.1, certificates from the certs module: what a
 * handler learns of its caller, and what a dialer checks of the server.
 */
describe("a gRPC server with mutual TLS", () => {
  let dir: string;
  let server: pb.RunningServer;
  const seen: Caller[] = [];
  const tls = (base: string) =>
    pb.loadTls({ ca: join(dir, "ca.crt"), cert: join(dir, `${base}.crt`), key: join(dir, `${base}.key`) })!;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "wasmatrix-tls-"));
    await initAuthority(dir);
    await issueCertificate(dir, { kind: "provider", id: "kv-1" });
    await issueCertificate(dir, { kind: "node", id: "n1" });
    await issueCertificate(dir, { kind: "client", name: "alice" });
    const service: pb.CapabilityProviderServer = {
      call: pb.unary(async (_request: pb.ProviderCallRequest, { caller }) => {
        seen.push(caller);
        return { payload: Buffer.from("ok") };
      }),
      providerInfo: pb.unary(async () => ({
        providerId: "kv-1",
        capability: "keyvalue",
        address: "",
        version: pb.PROTOCOL_VERSION,
        status: "alive",
        lastHeartbeatMs: 0,
      })),
    };
    server = await pb.startGrpcServer(
      "127.0.0.1:0",
      [{ definition: pb.CapabilityProviderService, implementation: service }],
      { tls: tls("provider-kv-1") },
    );
  });
  afterAll(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const request = {
    nodeId: "someone-else",
    instanceId: "i",
    binding: "default",
    operation: "get",
    payload: Buffer.alloc(0),
    scope: "i",
    tenant: "",
    permissions: [],
    remainingMs: 1_000,
  };

  it("tells a handler the identity the caller's verified certificate names", async () => {
    const node = pb.connectProvider(server.address, { tls: tls("node-n1") });
    try {
      await node.call(request, 5_000);
    } finally {
      node.close();
    }
    expect(seen.at(-1)).toEqual({ certificate: { kind: "node", id: "n1" } });
  });

  it("refuses, before any handler, a certificate kind the rule does not name", async () => {
    const before = seen.length;
    const alice = pb.connectProvider(server.address, { tls: tls("client-alice") });
    try {
      expect((await failure(alice.call(request, 5_000))).code).toBe(ErrorCode.PERMISSION_DENIED);
      expect((await alice.providerInfo()).providerId).toBe("kv-1");
    } finally {
      alice.close();
    }
    expect(seen.length).toBe(before);
  });

  it("lets a dialer insist on the identity of the server it reaches", async () => {
    const right = pb.connectProvider(server.address, {
      tls: tls("node-n1"),
      peer: { kind: "provider", id: "kv-1" },
    });
    const wrong = pb.connectProvider(server.address, {
      tls: tls("node-n1"),
      peer: { kind: "provider", id: "kv-2" },
    });
    try {
      expect((await right.providerInfo()).providerId).toBe("kv-1");
      expect((await failure(wrong.providerInfo())).code).toBe(ErrorCode.NODE_UNAVAILABLE);
    } finally {
      right.close();
      wrong.close();
    }
  });

  it("will not listen beyond loopback without TLS or --insecure", async () => {
    const error = await failure(pb.startGrpcServer("0.0.0.0:0", []));
    expect(error.code).toBe(ErrorCode.INSECURE_LISTEN);
    const open = await pb.startGrpcServer("0.0.0.0:0", [], { insecure: true });
    await open.close();
  });
});

describe("the certs module", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "wasmatrix-ca-"));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("writes keys with mode 0600 and refuses to replace a CA", async () => {
    const ca = await initAuthority(dir);
    const issued = await issueCertificate(
      dir,
      { kind: "node", id: "n1" },
      { hosts: ["10.0.0.5", "n1.internal"] },
    );
    expect((await stat(ca.key)).mode & 0o777).toBe(0o600);
    expect((await stat(issued.key)).mode & 0o777).toBe(0o600);
    expect((await failure(initAuthority(dir))).code).toBe(ErrorCode.ALREADY_EXISTS);
  });

  it("lists each certificate's identity, hosts and issuer, and the CA's fingerprint", async () => {
    const listing = await listAuthority(dir);
    expect(listing.caFingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    expect(listing.certificates).toEqual([
      expect.objectContaining({
        file: "node-n1.crt",
        identity: "node:n1",
        hosts: ["localhost", "127.0.0.1", "10.0.0.5", "n1.internal"],
        issuedByCa: true,
        expired: false,
      }),
    ]);
  });

  it("refuses an identity that would not read back", async () => {
    expect((await failure(issueCertificate(dir, { kind: "node", id: "a b" }))).code).toBe(
      ErrorCode.INVALID_REQUEST,
    );
  });
});

/**
 * Tokens and certificates on one server: the caller is both, the token rules (core api-access.ts)
 * run first and the identity rules (core identity-rules.ts) after them, in the one admission
 * every server runs (proto access.ts).
 */
describe("a gRPC server with mutual TLS and API tokens", () => {
  let dir: string;
  let server: pb.RunningServer;
  const seen: pb.CallContext[] = [];
  const tls = (base: string) =>
    pb.loadTls({ ca: join(dir, "ca.crt"), cert: join(dir, `${base}.crt`), key: join(dir, `${base}.key`) })!;
  const access: pb.ServerAccess = {
    policy: { requireCredentials: true },
    async identify({ metadata }) {
      const token = pb.bearerToken(metadata);
      return token === "reader-token" ? { token: { tokenId: "tok_reader", role: "reader" } } : {};
    },
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "wasmatrix-tls-auth-"));
    await initAuthority(dir);
    await issueCertificate(dir, { kind: "control-plane" });
    await issueCertificate(dir, { kind: "node", id: "n1" });
    await issueCertificate(dir, { kind: "client", name: "alice" });
    const implementation = {
      listNodes: pb.unary(async (_request: pb.ListNodesRequest, context) => {
        seen.push(context);
        return { nodes: [] };
      }),
      startInstance: pb.unary(async (_request: pb.StartInstanceRequest, context) => {
        seen.push(context);
        return pb.Instance.fromPartial({});
      }),
      registerNode: pb.unary(async (_request: pb.RegisterNodeRequest, context) => {
        seen.push(context);
        return pb.RegisterNodeResponse.fromPartial({});
      }),
    };
    server = await pb.startGrpcServer(
      "127.0.0.1:0",
      [{ definition: pb.ControlPlaneService, implementation }],
      { tls: tls("control-plane"), access },
    );
  });
  afterAll(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const dial = (base: string, token?: string) =>
    pb.connectControlPlane(server.address, { tls: tls(base), ...(token === undefined ? {} : { token }) });

  it("tells a handler both the certificate and the token of its caller", async () => {
    const alice = dial("client-alice", "reader-token");
    try {
      await alice.listNodes();
    } finally {
      alice.close();
    }
    expect(seen.at(-1)).toEqual({
      caller: {
        certificate: { kind: "client", name: "alice" },
        token: { tokenId: "tok_reader", role: "reader" },
      },
      scope: {},
    });
  });

  it("refuses a client certificate without a token, and a token whose role may not call", async () => {
    const before = seen.length;
    const bare = dial("client-alice");
    const reader = dial("client-alice", "reader-token");
    try {
      expect((await failure(bare.listNodes())).code).toBe(ErrorCode.UNAUTHENTICATED);
      expect((await failure(reader.startInstance(pb.StartInstanceRequest.fromPartial({})))).code).toBe(
        ErrorCode.PERMISSION_DENIED,
      );
    } finally {
      bare.close();
      reader.close();
    }
    expect(seen.length).toBe(before);
  });

  it("still holds a node certificate to its own id after the token rules let it through", async () => {
    const node = dial("node-n1");
    const register = (nodeId: string) =>
      node.registerNode(pb.RegisterNodeRequest.fromPartial({ node: { nodeId } }));
    try {
      const before = seen.length;
      expect((await failure(register("n2"))).code).toBe(ErrorCode.PERMISSION_DENIED);
      expect(seen.length).toBe(before);
      await register("n1");
      expect(seen.at(-1)?.caller).toEqual({ certificate: { kind: "node", id: "n1" } });
    } finally {
      node.close();
    }
  });
});

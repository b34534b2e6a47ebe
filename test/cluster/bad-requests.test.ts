import { credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import {
  invokeRequest,
  logsRequest,
  startRequest,
  stopRequest,
  type WasmatrixClient,
  watchRequest,
} from "@wasmatrix/client";
import { ErrorCode, GRPC_STATUS_BY_CODE } from "@wasmatrix/core";
import * as pb from "@wasmatrix/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { count, reactor, startReactor } from "./guest.js";
import { Cluster, type Daemon, failure } from "./harness.js";

/** The same call over the raw generated client: the gRPC status and metadata as they travel. */
function rawStart(raw: pb.ControlPlaneClient, request: pb.StartInstanceRequest): Promise<ServiceError> {
  return new Promise((resolve, reject) => {
    raw.startInstance(request, new Metadata(), { deadline: Date.now() + 10_000 }, (error) =>
      error === null ? reject(new Error("the call succeeded; it should have failed")) : resolve(error),
    );
  });
}

describe("bad requests against a control plane with one node", () => {
  const cluster = new Cluster();
  let cp: Daemon;
  let client: WasmatrixClient;
  let raw: pb.ControlPlaneClient;

  beforeAll(async () => {
    cp = await cluster.controlPlane();
    await cluster.nodeAgent({ nodeId: "solo", controlPlane: cp.address, labels: { zone: "a" } });
    client = cluster.client(cp.address);
    await cluster.nodesAlive(client, ["solo"]);
    raw = new pb.ControlPlaneClient(cp.address, credentials.createInsecure());
  });
  afterAll(async () => {
    raw?.close();
    await cluster.close();
  });

  it("generates an id when the request has none", async () => {
    const started = await startReactor(client, { instanceId: "" });
    expect(started.instanceId).toMatch(/^inst-[0-9a-f]{20}$/);
    expect(started.status).toBe("running");
    expect(await count(client, started.instanceId)).toBe(1);
  });

  it("refuses invalid ids with INVALID_REQUEST (gRPC INVALID_ARGUMENT, code and details in metadata)", async () => {
    for (const instanceId of ["has spaces", "-leading-dash", "a/b", "x".repeat(129)]) {
      const error = await failure(startReactor(client, { instanceId }));
      expect(error.code, instanceId).toBe(ErrorCode.INVALID_REQUEST);
      expect(error.details).toMatchObject({ kind: "instance id" });
    }
    const status = await rawStart(raw, startRequest({ instanceId: "has spaces", module: await reactor() }));
    expect(status.code).toBe(GRPC_STATUS_BY_CODE.INVALID_REQUEST);
    expect(status.code).toBe(3);
    expect(status.metadata.get(pb.CODE_METADATA_KEY)).toEqual([ErrorCode.INVALID_REQUEST]);
    expect(JSON.parse(String(status.metadata.get(pb.DETAILS_METADATA_KEY)[0]))).toEqual({
      kind: "instance id",
      value: "has spaces",
    });
    expect(status.details).toMatch(/instance id 'has spaces'/);
  });

  it("answers INSTANCE_NOT_FOUND (gRPC NOT_FOUND) for every call on an unknown id", async () => {
    const unknown = "no-such-instance";
    const calls: [string, () => Promise<unknown>][] = [
      ["query", () => client.queryInstance({ instanceId: unknown, factLimit: 0 })],
      ["stop", () => client.stopInstance(stopRequest(unknown))],
      ["invoke", () => client.invoke(invokeRequest(unknown, "echo", "x"))],
      [
        "assign",
        () =>
          client.assignCapability({
            instanceId: unknown,
            assignment: { capability: "keyvalue", provider: "", binding: "", permissions: ["kv:read"] },
          }),
      ],
      ["revoke", () => client.revokeCapability({ instanceId: unknown, capability: "keyvalue", binding: "" })],
      [
        "logs",
        async () => {
          for await (const _ of client.streamLogs(logsRequest(unknown))) break;
        },
      ],
    ];
    for (const [name, call] of calls) {
      const error = await failure(call);
      expect(error.code, name).toBe(ErrorCode.INSTANCE_NOT_FOUND);
      expect(error.details, name).toEqual({ instanceId: unknown });
    }
    const status = await new Promise<ServiceError>((resolve) =>
      raw.queryInstance({ instanceId: unknown, factLimit: 0 }, (error) => resolve(error!)),
    );
    expect(status.code).toBe(GRPC_STATUS_BY_CODE.INSTANCE_NOT_FOUND);
  });

  it("refuses module bytes that are not WebAssembly with INVALID_MODULE", async () => {
    for (const module of [Buffer.from("definitely not wasm"), Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01])]) {
      const error = await failure(client.startInstance(startRequest({ instanceId: "bad-module", module })));
      expect(error.code).toBe(ErrorCode.INVALID_MODULE);
    }
    const status = await rawStart(
      raw,
      startRequest({ instanceId: "bad-module", module: Buffer.from("definitely not wasm") }),
    );
    expect(status.code).toBe(GRPC_STATUS_BY_CODE.INVALID_MODULE);
    expect(status.metadata.get(pb.CODE_METADATA_KEY)).toEqual([ErrorCode.INVALID_MODULE]);
    // Neither bytes nor a digest, a malformed digest, or a digest no node has: the request is at fault.
    for (const fields of [{}, { moduleDigest: "sha256:abc" }, { moduleDigest: `sha256:${"0".repeat(64)}` }]) {
      const error = await failure(
        client.startInstance(startRequest({ instanceId: "bad-module", ...fields })),
      );
      expect(error.code, JSON.stringify(fields)).toBe(ErrorCode.INVALID_REQUEST);
    }
    await expect(client.queryInstance({ instanceId: "bad-module", factLimit: 0 })).rejects.toMatchObject({
      code: ErrorCode.INSTANCE_NOT_FOUND,
    });
  });

  it("refuses malformed permissions and assignments with INVALID_REQUEST", async () => {
    const assignment = (capability: string, permissions: string[]) => ({
      capability,
      provider: "",
      binding: "",
      permissions,
    });
    for (const bad of [
      assignment("keyvalue", ["kv:fly"]),
      assignment("keyvalue", [""]),
      assignment("http", ["http:domain:"]),
      assignment("http", ["http:domain:exa mple.com"]),
    ]) {
      const error = await failure(startReactor(client, { instanceId: "bad-perms", assignments: [bad] }));
      expect(error.code, JSON.stringify(bad)).toBe(ErrorCode.INVALID_REQUEST);
    }
    // The same checks guard a running instance's assignments.
    const running = await startReactor(client, { instanceId: "perm-target" });
    const error = await failure(
      client.assignCapability({
        instanceId: running.instanceId,
        assignment: assignment("keyvalue", ["kv:*"]),
      }),
    );
    expect(error.code).toBe(ErrorCode.INVALID_REQUEST);
    const { instance } = await client.queryInstance({ instanceId: "perm-target", factLimit: 0 });
    expect(instance?.assignments).toEqual([]);
  });

  it("refuses an unknown capability or a malformed permission before placement, as INVALID_REQUEST", async () => {
    for (const assignment of [
      { capability: "teleport", provider: "", binding: "", permissions: [] },
      { capability: "messaging", provider: "", binding: "", permissions: ["msg:publish:a..b"] },
    ]) {
      const error = await failure(startReactor(client, { instanceId: "bad-cap", assignments: [assignment] }));
      expect(error.code, assignment.capability).toBe(ErrorCode.INVALID_REQUEST);
    }
  });

  it("refuses an invocation payload over the instance's cap with RESOURCE_EXHAUSTED, and the instance lives on", async () => {
    const cap = 1024;
    await startReactor(client, { instanceId: "capped", limits: { maxHostCallPayloadBytes: cap } });
    const error = await failure(client.invoke(invokeRequest("capped", "echo", Buffer.alloc(cap + 1, 1))));
    expect(error.code).toBe(ErrorCode.RESOURCE_EXHAUSTED);
    expect(error.details).toEqual({ sizeBytes: cap + 1, maxBytes: cap });
    expect(error.grpcStatus).toBe(8);
    const fits = await client.invoke(invokeRequest("capped", "echo", Buffer.alloc(cap, 2)));
    expect(fits.outcome?.status).toBe("ok");
    expect(fits.response.byteLength).toBe(cap);
    expect((await client.queryInstance({ instanceId: "capped", factLimit: 0 })).instance?.status).toBe(
      "running",
    );
  });

  it("refuses a node that speaks another protocol major with INCOMPATIBLE_VERSION", async () => {
    const node = (nodeId: string) =>
      pb.Node.fromPartial({ nodeId, address: "127.0.0.1:1", labels: {}, capabilities: ["logging"] });
    for (const protocolVersion of ["2.0", "0.9", "", "one"]) {
      const error = await failure(client.registerNode({ node: node("future"), protocolVersion }));
      expect(error.code, protocolVersion).toBe(ErrorCode.INCOMPATIBLE_VERSION);
      expect(error.details).toMatchObject({ peer: protocolVersion, local: pb.PROTOCOL_VERSION });
    }
    const status = await new Promise<ServiceError>((resolve) =>
      raw.registerNode({ node: node("future"), protocolVersion: "2.0" }, (error) => resolve(error!)),
    );
    expect(status.code).toBe(GRPC_STATUS_BY_CODE.INCOMPATIBLE_VERSION);
    // A registration without a node, or with a bad node id, is a bad request.
    expect((await failure(client.registerNode({ node: undefined, protocolVersion: "1.0" }))).code).toBe(
      ErrorCode.INVALID_REQUEST,
    );
    expect((await failure(client.registerNode({ node: node("bad id"), protocolVersion: "1.0" }))).code).toBe(
      ErrorCode.INVALID_REQUEST,
    );
    const { nodes } = await client.listNodes();
    expect(nodes.map((n) => n.nodeId)).toEqual(["solo"]);
    // A newer minor is compatible: it registers (and leaves again, so it takes no placements).
    const accepted = await client.registerNode({ node: node("newer-minor"), protocolVersion: "1.7" });
    expect(accepted.protocolVersion).toBe(pb.PROTOCOL_VERSION);
    await client.deregisterNode({ nodeId: "newer-minor" });
    // A report from a node the control plane does not know tells that node to register again.
    expect(
      await client.reportStatus({ nodeId: "stranger", instances: [], facts: [], partial: false }),
    ).toEqual({
      known: false,
      providers: [],
    });
  });

  it("keeps serving after all of that", async () => {
    expect(cp.child.exitCode).toBeNull();
    expect((await client.serverInfo()).mode).toBe("control-plane");
    const started = await startReactor(client, { instanceId: "still-fine" });
    expect(started.status).toBe("running");
    expect(await count(client, "still-fine")).toBe(1);
    expect(await count(client, "perm-target")).toBe(1);
    const facts: pb.Fact[] = [];
    for await (const f of client.watchEvents(watchRequest({ noFollow: true }))) facts.push(f);
    // Refused requests leave no trace in the facts.
    expect(facts.filter((f) => f.instanceId.startsWith("bad-"))).toEqual([]);
    expect(cp.stderr()).not.toMatch(/"level":(50|60)/);
  });
});

import * as pb from "@wasmatrix/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RemoteProvider } from "./remote-provider.js";

/** A provider process stand-in on real gRPC (127.0.0.1) that records the calls it gets. */
describe("calls to a provider process", () => {
  const calls: pb.ProviderCallRequest[] = [];
  let server: Awaited<ReturnType<typeof pb.startGrpcServer>>;
  let remote: RemoteProvider;

  beforeAll(async () => {
    const service: pb.CapabilityProviderServer = {
      call: pb.unary(async (request: pb.ProviderCallRequest) => {
        calls.push(request);
        return { payload: Buffer.alloc(0) };
      }),
      providerInfo: pb.unary(async () => ({}) as pb.Provider),
    };
    server = await pb.startGrpcServer(
      "127.0.0.1:0",
      [{ definition: pb.CapabilityProviderService, implementation: service }],
      { what: "a test provider" },
    );
    remote = new RemoteProvider(
      {
        providerId: "msg-1",
        capability: "messaging",
        address: server.address,
        version: pb.PROTOCOL_VERSION,
        status: "alive",
        lastHeartbeatMs: 0,
      },
      "na",
    );
  });
  afterAll(async () => {
    await remote.close();
    await server.close();
  });

  it("carry the calling instance's tenant, so the provider confines its subjects to it", async () => {
    const call = {
      instanceId: "i",
      binding: "default",
      operation: "publish",
      payload: new TextEncoder().encode(JSON.stringify({ subject: "orders", data: "x" })),
      scope: "instance/i",
      remainingMs: 2_000,
    };
    await remote.handle({ ...call, tenant: "a" });
    await remote.handle({ ...call, tenant: "default" });
    await remote.handle(call);
    expect(calls.map((c) => c.tenant)).toEqual(["a", "default", ""]);
  });
});

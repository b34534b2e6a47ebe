import { credentials, type ServiceError, status } from "@grpc/grpc-js";
import * as pb from "@wasmatrix/proto";
import { DEFAULT_MAX_MODULE_BYTES } from "@wasmatrix/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * A server's receive limit, on a real gRPC server on 127.0.0.1: an oversized request is refused
 * from its header, before its body is read (a client sending 80 MiB used to be read in full).
 */
describe("the size of a request a server reads", () => {
  let server: pb.RunningServer;
  let client: pb.ControlPlaneClient;
  const reached: number[] = [];

  beforeAll(async () => {
    const service = {
      startInstance: pb.unary(async (request: pb.StartInstanceRequest) => {
        reached.push(request.module.byteLength);
        return pb.Instance.fromPartial({ instanceId: request.instanceId });
      }),
    };
    server = await pb.startGrpcServer("127.0.0.1:0", [
      { definition: pb.ControlPlaneService, implementation: service },
    ]);
    client = new pb.ControlPlaneClient(server.address, credentials.createInsecure(), {
      "grpc.max_send_message_length": -1,
    });
  });
  afterAll(async () => {
    client.close();
    await server.close(100);
  });

  const start = (moduleBytes: number) =>
    new Promise<ServiceError | null>((resolve) => {
      client.startInstance(
        pb.StartInstanceRequest.fromPartial({ instanceId: "big", module: Buffer.alloc(moduleBytes) }),
        (error) => resolve(error),
      );
    });

  it("lets the largest module a runtime accepts through to the handler", async () => {
    expect(await start(DEFAULT_MAX_MODULE_BYTES)).toBeNull();
    expect(reached).toEqual([DEFAULT_MAX_MODULE_BYTES]);
  });

  it("refuses a request over its limit with RESOURCE_EXHAUSTED, without calling the handler", async () => {
    reached.length = 0;
    const error = await start(pb.DEFAULT_MAX_RECEIVE_MESSAGE_BYTES + 1);
    expect(error?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(reached).toEqual([]);
    expect(pb.DEFAULT_MAX_RECEIVE_MESSAGE_BYTES).toBeLessThan(70 * 1024 * 1024);
  });
});

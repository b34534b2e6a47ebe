import { createServer, type Server, type Socket } from "node:net";
import { ErrorCode } from "@wasmatrix/core";
import { rejection } from "@wasmatrix/core/test-support/expect-code";
import * as pb from "@wasmatrix/proto";
import { connectNode } from "@wasmatrix/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect } from "./client.js";

describe("a peer address that something else answers on (a hijacked node address)", () => {
  let impostor: Server;
  let address: string;
  const sockets = new Set<Socket>();

  beforeAll(async () => {
    // Not gRPC: it answers every connection with an HTTP/1 response and hangs up.
    impostor = createServer((socket) => {
      sockets.add(socket);
      socket.once("close", () => sockets.delete(socket));
      socket.end("HTTP/1.1 400 Bad Request\r\n\r\n");
    });
    await new Promise<void>((resolve) => impostor.listen(0, "127.0.0.1", resolve));
    const bound = impostor.address();
    if (bound === null || typeof bound === "string") throw new Error("no TCP address");
    address = `127.0.0.1:${bound.port}`;
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => impostor.close(() => resolve()));
  });

  it("is a node agent that is unreachable, not a server of one's own that is down", async () => {
    const node = connectNode(address, { timeoutMs: 5_000 });
    try {
      const error = await rejection(node.nodeInfo());
      expect(error.code).toBe(ErrorCode.NODE_UNAVAILABLE);
      expect(error.message).toContain(`the node agent at ${address} is unreachable`);
      expect(error.details).toMatchObject({ address });
      // Relayed by a control plane, this must not read as the CLI's own server being down.
      expect(pb.isUnreachable(error)).toBe(false);
      const relayed = pb.fromServiceError(Object.assign(new Error(), pb.toServiceError(error)));
      expect(pb.isUnreachable(relayed)).toBe(false);
    } finally {
      node.close();
    }
  });

  it("is still an unreachable server for a client calling it as its control plane", async () => {
    const client = connect(address, { timeoutMs: 5_000 });
    try {
      expect(pb.isUnreachable(await rejection(client.serverInfo()))).toBe(true);
    } finally {
      client.close();
    }
  });
});

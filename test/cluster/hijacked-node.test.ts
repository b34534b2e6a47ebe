import { createServer, type Server, type Socket } from "node:net";
import { invokeRequest, type WasmatrixClient } from "@wasmatrix/client";
import { ErrorCode } from "@wasmatrix/core";
import * as pb from "@wasmatrix/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failureFrom, UNREACHABLE_HINT } from "../../packages/cli/src/failure.js";
import { startReactor } from "./guest.js";
import { Cluster, type Daemon, failure, freePort } from "./harness.js";

/**
 * A node dies and something that is not a node agent takes its address before the control plane
 * notices (its heartbeat interval is long here). An invoke routed there used to come back with
 * the transport's status of the control plane's call, and the CLI asked whether `wasmatrix up`
 * was running — the one thing that was.
 */
describe("an invoke routed to a node whose address something else answers on", () => {
  const cluster = new Cluster();
  const sockets = new Set<Socket>();
  let impostor: Server | undefined;
  let client: WasmatrixClient;
  let nodeAddress: string;

  beforeAll(async () => {
    const cp: Daemon = await cluster.controlPlane({ heartbeatMs: 10_000 });
    const port = await freePort();
    nodeAddress = `127.0.0.1:${port}`;
    const node = await cluster.nodeAgent({ nodeId: "victim", controlPlane: cp.address, port });
    client = cluster.client(cp.address);
    await cluster.nodesAlive(client, ["victim"]);
    await startReactor(client, { instanceId: "stranded" });
    await node.kill("SIGKILL");
    impostor = createServer((socket) => {
      sockets.add(socket);
      socket.once("close", () => sockets.delete(socket));
      socket.end("HTTP/1.1 400 Bad Request\r\n\r\n");
    });
    await new Promise<void>((resolve) => impostor!.listen(port, "127.0.0.1", resolve));
  }, 60_000);
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => (impostor ? impostor.close(() => resolve()) : resolve()));
    await cluster.close();
  });

  it("says the node is unreachable, and the CLI's hint points at the node, not at `wasmatrix up`", async () => {
    const error = await failure(client.invoke(invokeRequest("stranded", "count")));
    expect(error.code).toBe(ErrorCode.NODE_UNAVAILABLE);
    expect(error.message).toContain(`the node agent at ${nodeAddress} is unreachable`);
    expect(error.details).toMatchObject({ address: nodeAddress });
    expect(pb.isUnreachable(error)).toBe(false);
    const cli = failureFrom(error);
    expect(cli.hint).not.toBe(UNREACHABLE_HINT);
    expect(cli.hint).toContain("wasmatrix nodes");
  });
});

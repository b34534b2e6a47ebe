import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startRequest, type WasmatrixClient } from "@wasmatrix/client";
import * as pb from "@wasmatrix/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cluster, type Daemon, freePort } from "../cluster/harness.js";
import { call, httpEcho, until } from "./support.js";

/**
 * A standalone `wasmatrix gateway` in front of a control plane and two node agents, all real
 * processes on 127.0.0.1: replicas share the load, a killed one is skipped, and routes come back
 * after the control plane is killed and started again with the same --routes-file.
 */
describe("the HTTP gateway in a cluster", () => {
  const cluster = new Cluster();
  let dir: string;
  let port: number;
  let cp: Daemon;
  let nb: Daemon;
  let client: WasmatrixClient;
  let base: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "wasmatrix-gateway-"));
    port = await freePort();
    cp = await cluster.controlPlane({ port, routesFile: join(dir, "routes.json") });
    [, nb] = await Promise.all([
      cluster.nodeAgent({ nodeId: "na", controlPlane: cp.address, labels: { zone: "a" } }),
      cluster.nodeAgent({ nodeId: "nb", controlPlane: cp.address, labels: { zone: "b" } }),
    ]);
    client = cluster.client(cp.address);
    await cluster.nodesAlive(client, ["na", "nb"]);
    const module = await httpEcho();
    for (const [id, zone] of [
      ["web-1", "a"],
      ["web-2", "b"],
    ] as const) {
      await client.startInstance(
        startRequest({ instanceId: id, module, labels: { app: "web" }, requiredNodeLabels: { zone } }),
      );
    }
    await client.addRoute({
      route: pb.Route.fromPartial({
        name: "web",
        pathPrefix: "/",
        targetLabelKey: "app",
        targetLabelValue: "web",
      }),
    });
    const gateway = await cluster.gateway(cp.address);
    base = `http://${gateway.address}`;
    await until("the gateway to learn the route", async () =>
      (await call(base, "/")).status === 200 ? true : undefined,
    );
  });
  afterAll(async () => {
    await cluster.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("spreads a label route's requests over the replicas on both nodes", async () => {
    const answers = await Promise.all(
      Array.from({ length: 16 }, (_, i) => call(base, `/r${i}?sleep_ms=100`)),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(16).fill(200));
    expect(new Set(answers.map((a) => a.headers["x-wasmatrix-instance"]))).toEqual(
      new Set(["web-1", "web-2"]),
    );
    expect(answers[3]!.body.toString()).toBe("GET /r3\n");
  });

  it("skips the replica whose node agent was killed", async () => {
    await nb.kill("SIGKILL");
    const answers: string[] = [];
    for (let i = 0; i < 8; i++) {
      const answer = await call(base, "/after-kill");
      expect(answer.status).toBe(200);
      answers.push(String(answer.headers["x-wasmatrix-instance"]));
    }
    expect(new Set(answers)).toEqual(new Set(["web-1"]));
  });

  it("keeps routes across a kill -9 of the control plane and serves them again", async () => {
    await cp.kill("SIGKILL");
    cp = await cluster.controlPlane({ port, routesFile: join(dir, "routes.json") });
    const { routes } = await client.listRoutes();
    expect(routes.map((r) => [r.name, r.pathPrefix, r.targetLabelKey, r.targetLabelValue])).toEqual([
      ["web", "/", "app", "web"],
    ]);
    await until("the gateway to serve through the restarted control plane", async () => {
      const answer = await call(base, "/back");
      return answer.status === 200 && answer.headers["x-wasmatrix-instance"] === "web-1" ? true : undefined;
    });
  });
});

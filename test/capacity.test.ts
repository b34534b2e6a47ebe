import { existsSync, readFileSync } from "node:fs";
import { connect, invokeRequest, startRequest, stopRequest } from "@wasmatrix/client";
import { ControlPlane } from "@wasmatrix/control-plane";
import { ErrorCode, WasmatrixError } from "@wasmatrix/core";
import { rejection } from "@wasmatrix/core/test-support/expect-code";
import { createEmbedded, type Embedded } from "@wasmatrix/embedded";
import { LocalNodeApi, NodeAgent } from "@wasmatrix/node-agent";
import * as pb from "@wasmatrix/proto";
import { DEFAULT_MAX_INSTANCES } from "@wasmatrix/runtime";
import { afterEach, describe, expect, it } from "vitest";

/**
 * A node's capacity through the embedded cluster: a start past it is refused with
 * RESOURCE_EXHAUSTED, at once, and the instances already running keep answering.
 *
 * The tests that fill a runtime process up to V8's real limit run only with
 * WASMATRIX_SLOW_TESTS=1 (`WASMATRIX_SLOW_TESTS=1 npx vitest run test/capacity.test.ts`, about a
 * minute on 2 cores): the default suite stays fast.
 */
const echoPath = new URL("../examples/build/echo_reactor.wasm", import.meta.url);
const haveEcho = existsSync(echoPath);
const slow = process.env["WASMATRIX_SLOW_TESTS"] === "1";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

const opened: Embedded[] = [];
async function embedded(node: Parameters<typeof createEmbedded>[0] = {}): Promise<Embedded> {
  const e = await createEmbedded({ nodeId: "solo", ...node });
  opened.push(e);
  return e;
}
afterEach(async () => {
  await Promise.all(opened.splice(0).map((e) => e.close()));
});

/** Starts instances `${prefix}${from}` … `${prefix}${to - 1}`, a chunk at a time: the worker takes a chunk in one batch. */
async function fill(client: pb.ControlPlaneApi, prefix: string, from: number, to: number, digest: string) {
  const CHUNK = 200;
  for (let at = from; at < to; at += CHUNK) {
    const ids = Array.from({ length: Math.min(CHUNK, to - at) }, (_, k) => `${prefix}${at + k}`);
    await Promise.all(
      ids.map((instanceId) => client.startInstance(startRequest({ instanceId, moduleDigest: digest }))),
    );
  }
}

async function upper(client: pb.ControlPlaneApi, instanceId: string, text: string): Promise<string> {
  const result = await client.invoke(invokeRequest(instanceId, "upper", encoder.encode(text)));
  expect(result.outcome?.status).toBe("ok");
  return decoder.decode(result.response);
}

describe.skipIf(!haveEcho)("a node's capacity, through the embedded cluster", () => {
  const echo = haveEcho ? readFileSync(echoPath) : Buffer.alloc(0);

  it("reports its capacity and refuses a start past --max-instances with RESOURCE_EXHAUSTED, in process and over gRPC", async () => {
    const e = await embedded({ node: { maxInstances: 3, runtime: { workers: 2 } } });
    const server = await e.serve("127.0.0.1:0");
    const remote = connect(server.address, { timeoutMs: 10_000 });
    try {
      expect((await e.client.listNodes()).nodes[0]).toMatchObject({ nodeId: "solo", maxInstances: 3 });
      for (const id of ["e1", "e2", "e3"])
        await e.client.startInstance(startRequest({ instanceId: id, module: echo }));
      for (const client of [e.client, remote]) {
        const [error, answer] = await Promise.all([
          rejection(client.startInstance(startRequest({ instanceId: "e4", module: echo }))),
          upper(client, "e1", "still here"),
        ]);
        expect(error.code).toBe(ErrorCode.RESOURCE_EXHAUSTED);
        expect(error.message).toMatch(/full.*add a node.*runtime shards.*stop instances/);
        expect(error.details).toMatchObject({
          reason: "capacity",
          rejected: { solo: "node is full: 3 of 3 instances" },
        });
        expect(answer).toBe("STILL HERE");
      }
      await e.client.stopInstance(stopRequest("e2"));
      const again = await e.client.startInstance(startRequest({ instanceId: "e4", module: echo }));
      expect(again.status).toBe("running");
    } finally {
      remote.close();
    }
  });

  it.skipIf(!slow)(
    "fills one runtime process to what V8 holds: the next start is refused at once, a running instance answers, and stopping some lets starts succeed again",
    async () => {
      const e = await embedded({ node: { runtime: { workers: 2 } } });
      const first = await e.client.startInstance(startRequest({ instanceId: "i0", module: echo }));
      const digest = first.moduleDigest;
      await fill(e.client, "i", 1, DEFAULT_MAX_INSTANCES, digest);
      expect(e.agent.runtime.list()).toHaveLength(DEFAULT_MAX_INSTANCES);

      const rssBefore = process.memoryUsage().rss;
      const cpuBefore = process.cpuUsage();
      const started = performance.now();
      const [error, answer] = await Promise.all([
        rejection(e.client.startInstance(startRequest({ instanceId: "one-too-many", moduleDigest: digest }))),
        upper(e.client, "i42", "answers while full"),
      ]);
      const refusedAfterMs = performance.now() - started;
      expect(error.code).toBe(ErrorCode.RESOURCE_EXHAUSTED);
      expect(error.details).toMatchObject({ reason: "capacity" });
      // The bound: a refusal, not a stall (before the limit, a start here took seconds).
      expect(refusedAfterMs).toBeLessThan(1_000);
      expect(answer).toBe("ANSWERS WHILE FULL");
      // A burst of refused starts leaves nothing working or held behind: the process goes idle.
      const burst = await Promise.all(
        Array.from({ length: 500 }, (_, k) =>
          rejection(e.client.startInstance(startRequest({ instanceId: `burst${k}`, moduleDigest: digest }))),
        ),
      );
      expect(new Set(burst.map((b) => b.code))).toEqual(new Set([ErrorCode.RESOURCE_EXHAUSTED]));
      await new Promise((r) => setTimeout(r, 1_000));
      const cpu = process.cpuUsage(cpuBefore);
      expect((cpu.user + cpu.system) / 1_000).toBeLessThan(500);
      expect(process.memoryUsage().rss - rssBefore).toBeLessThan(64 * 1024 * 1024);

      for (let i = 0; i < 10; i++) await e.client.stopInstance(stopRequest(`i${i}`));
      for (let i = 0; i < 10; i++) {
        const view = await e.client.startInstance(
          startRequest({ instanceId: `again${i}`, moduleDigest: digest }),
        );
        expect(view.status).toBe("running");
      }
      expect(await upper(e.client, "again9", "back")).toBe("BACK");
    },
    240_000,
  );

  it.skipIf(!slow)(
    "past V8's real limit (a --max-instances above it), a start whose memory cannot be reserved fails alone with RESOURCE_EXHAUSTED",
    async () => {
      const e = await embedded({ node: { maxInstances: 20_000, runtime: { workers: 1 } } });
      const first = await e.client.startInstance(startRequest({ instanceId: "v0", module: echo }));
      const digest = first.moduleDigest;
      // Quickly up to the default, then one at a time towards the engine's own edge.
      await fill(e.client, "v", 1, DEFAULT_MAX_INSTANCES, digest);
      let refused: WasmatrixError | null = null;
      let i = DEFAULT_MAX_INSTANCES;
      for (; i < 20_000 && refused === null; i++) {
        refused = await e.client
          .startInstance(startRequest({ instanceId: `v${i}`, moduleDigest: digest }))
          .then(
            () => null,
            (error: unknown) => WasmatrixError.from(error),
          );
      }
      expect(refused?.code).toBe(ErrorCode.RESOURCE_EXHAUSTED);
      expect(refused?.details).toMatchObject({ reason: "memory_reservation" });
      expect(refused?.message).toMatch(/another node.*runtime shards.*fewer instances/);
      // Only that start failed: the worker and every instance on it are fine, nothing restarts it.
      expect(await upper(e.client, "v0", "neighbour")).toBe("NEIGHBOUR");
      expect(await upper(e.client, `v${i - 2}`, "last one in")).toBe("LAST ONE IN");
      const failed = e.agent.get(`v${i - 1}`);
      expect(failed.status).toBe("crashed");
      expect(failed.restarts).toBe(0);
      expect(e.agent.activeCount()).toBe(i - 1);
    },
    240_000,
  );
});

describe.skipIf(!haveEcho)("a control plane whose count of a node lags behind the node", () => {
  const echo = haveEcho ? readFileSync(echoPath) : Buffer.alloc(0);
  const agents: NodeAgent[] = [];
  afterEach(async () => {
    await Promise.all(agents.splice(0).map((a) => a.close(200)));
  });

  it("sends a start a full node refuses on to the next eligible node, and marks the node full", async () => {
    const controlPlane = new ControlPlane();
    for (const [nodeId, zone, maxInstances] of [
      ["full", "a", 1],
      ["spare", "b", 5],
    ] as const) {
      const agent = new NodeAgent({ nodeId, maxInstances, runtime: { workers: 1 } });
      agents.push(agent);
      // Registered without its capacity, as a node of an older version is: only its refusal tells.
      controlPlane.registerNode(
        pb.Node.fromPartial({ nodeId, address: "in-process", labels: { zone }, status: "alive" }),
        new LocalNodeApi(agent),
      );
    }
    const prefer = { preferredNodeLabels: { zone: "a" } };
    expect(
      (await controlPlane.startInstance(startRequest({ instanceId: "x1", module: echo, ...prefer }))).nodeId,
    ).toBe("full");
    const moved = await controlPlane.startInstance(
      startRequest({ instanceId: "x2", module: echo, ...prefer }),
    );
    expect(moved.nodeId).toBe("spare");
    const { nodes } = await controlPlane.listNodes();
    expect(nodes.find((n) => n.nodeId === "full")?.maxInstances).toBe(1);
    expect(await upper(controlPlane, "x1", "first")).toBe("FIRST");
    expect(await upper(controlPlane, "x2", "second")).toBe("SECOND");
    controlPlane.close();
  });
});

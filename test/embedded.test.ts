import {
  connect,
  invokeRequest,
  logsRequest,
  startRequest,
  type WasmatrixClient,
  watchRequest,
} from "@wasmatrix/client";
import { ErrorCode } from "@wasmatrix/core";
import { createEmbedded, type Embedded } from "@wasmatrix/embedded";
import type * as pb from "@wasmatrix/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { capabilityCall, guests } from "../packages/node-agent/src/test-support/guests.js";

/**
 * The embedded mode as a library and over real gRPC on 127.0.0.1: the in-process client and the
 * network client have the same methods and give the same answers and the same errors.
 */
describe("embedded mode", () => {
  let embedded: Embedded;
  let remote: WasmatrixClient;
  let proxy: Buffer;

  beforeAll(async () => {
    embedded = await createEmbedded({
      nodeId: "solo",
      labels: { zone: "a" },
      node: { runtime: { workers: 1 } },
    });
    const server = await embedded.serve("127.0.0.1:0");
    remote = connect(server.address, { timeoutMs: 10_000 });
    proxy = Buffer.from(await guests.proxy());
  });
  afterAll(async () => {
    remote.close();
    await embedded.close();
  });

  const clients = () =>
    [
      ["in-process", embedded.client],
      ["gRPC", remote],
    ] as const;

  it("starts, lists, invokes and stops instances the same way through either client", async () => {
    for (const [name, client] of clients()) {
      const id = `echo-${name === "gRPC" ? "remote" : "local"}`;
      const started = await client.startInstance(startRequest({ instanceId: id, module: proxy }));
      expect(started).toMatchObject({ instanceId: id, status: "running", kind: "reactor", nodeId: "solo" });
      const answer = await client.invoke(invokeRequest(id, "echo", "ping"));
      expect(Buffer.from(answer.response).toString()).toBe("ping");
      expect(answer.outcome?.status).toBe("ok");
      const listed = await client.listInstances({ nodeId: "", status: "running" });
      expect(listed.instances.map((i) => i.instanceId)).toContain(id);
      const stopped = await client.stopInstance({ instanceId: id, deadlineMs: 0 });
      expect(stopped.status).toBe("stopped");
    }
  });

  it("gives the same error codes through either client, and keeps serving", async () => {
    const attempts: [string, (c: pb.ControlPlaneApi) => Promise<unknown>, string][] = [
      ["unknown id", (c) => c.invoke(invokeRequest("nobody", "echo")), ErrorCode.INSTANCE_NOT_FOUND],
      [
        "bad id",
        (c) => c.startInstance(startRequest({ instanceId: "no spaces", module: proxy })),
        ErrorCode.INVALID_REQUEST,
      ],
      [
        "bad module",
        (c) => c.startInstance(startRequest({ module: Buffer.from("\0asm garbage") })),
        ErrorCode.INVALID_MODULE,
      ],
      ["no module", (c) => c.startInstance(startRequest({})), ErrorCode.INVALID_REQUEST],
      [
        "bad permission",
        (c) =>
          c.startInstance(
            startRequest({
              module: proxy,
              assignments: [{ capability: "keyvalue", permissions: ["kv:fly"] }],
            }),
          ),
        ErrorCode.INVALID_REQUEST,
      ],
      [
        "oversized payload",
        async (c) => {
          await c.startInstance(
            startRequest({ instanceId: "small", module: proxy, limits: { maxHostCallPayloadBytes: 16 } }),
          );
          try {
            return await c.invoke(invokeRequest("small", "echo", "x".repeat(1024)));
          } finally {
            await c.stopInstance({ instanceId: "small", deadlineMs: 0 });
          }
        },
        ErrorCode.RESOURCE_EXHAUSTED,
      ],
    ];
    for (const [name, client] of clients()) {
      for (const [what, attempt, code] of attempts) {
        await expect(attempt(client), `${what} via ${name}`).rejects.toMatchObject({ code });
      }
    }
    expect((await remote.serverInfo()).mode).toBe("embedded");
  });

  it("streams facts from a sequence number, then live ones", async () => {
    const before = (await collect(remote.watchEvents(watchRequest({ noFollow: true })))).at(-1)?.seq ?? 0;
    const abort = new AbortController();
    const seen: pb.Fact[] = [];
    const following = (async () => {
      for await (const fact of remote.watchEvents(
        watchRequest({ afterSeq: before, instanceId: "watched" }),
        abort.signal,
      )) {
        seen.push(fact);
        if (fact.kind === "instance.stopped") abort.abort();
      }
    })();
    await remote.startInstance(startRequest({ instanceId: "watched", module: proxy }));
    await remote.stopInstance({ instanceId: "watched", deadlineMs: 0 });
    await following;
    expect(seen.map((f) => f.kind)).toEqual(["instance.started", "instance.stopped"]);
    expect(seen.every((f) => f.seq > before && f.source === "solo")).toBe(true);
  });

  it("streams an instance's output lines", async () => {
    await remote.startInstance(
      startRequest({
        instanceId: "talker",
        module: proxy,
        assignments: [{ capability: "logging", provider: "local", binding: "default", permissions: [] }],
      }),
    );
    await remote.invoke({
      instanceId: "talker",
      operation: "call",
      payload: Buffer.from(capabilityCall("default", "wasmatrix:logging", "info", "hello logs")),
    });
    const lines = await collect(remote.streamLogs(logsRequest("talker")));
    expect(lines.map((l) => l.text)).toContain("[info] hello logs");
  });

  it("lists its one node with labels and capabilities", async () => {
    const { nodes } = await remote.listNodes();
    expect(nodes).toHaveLength(1);
    expect(nodes[0]).toMatchObject({ nodeId: "solo", status: "alive", labels: { zone: "a" } });
    expect(nodes[0]!.capabilities).toEqual(expect.arrayContaining(["keyvalue", "http", "logging"]));
  });
});

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { startRequest } from "@wasmatrix/client";
import { createEmbedded, type Embedded } from "@wasmatrix/embedded";
import { type Gateway, startGateway } from "@wasmatrix/gateway";
import * as pb from "@wasmatrix/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { guests } from "../../packages/node-agent/src/test-support/guests.js";
import { call, httpEcho } from "./support.js";

/** The gateway in front of an embedded cluster, over real HTTP on 127.0.0.1 (undici). */
describe("the HTTP gateway in embedded mode", () => {
  let embedded: Embedded;
  let gateway: Gateway;
  let base: string;
  let echo: Buffer;

  const route = (r: Partial<pb.Route> & { name: string; pathPrefix: string }) =>
    embedded.client.addRoute({ route: pb.Route.fromPartial(r) });
  const start = (id: string, module: Buffer, extra: Partial<pb.StartInstanceRequest> = {}) =>
    embedded.client.startInstance(startRequest({ instanceId: id, module, ...extra }));

  beforeAll(async () => {
    embedded = await createEmbedded({ nodeId: "solo", node: { runtime: { workers: 2 } } });
    gateway = await startGateway({ api: embedded.client, listen: "127.0.0.1:0", maxBodyBytes: 64 * 1024 });
    base = `http://${gateway.address}`;
    echo = await httpEcho();
    await start("echo", echo);
    await route({ name: "echo", pathPrefix: "/echo", targetInstance: "echo" });
    await route({
      name: "only-get",
      pathPrefix: "/echo/ro",
      methods: ["GET", "HEAD"],
      targetInstance: "echo",
    });
    await gateway.directory.refresh();
  });
  afterAll(async () => {
    await gateway?.close();
    await embedded?.close();
  });

  it("answers each method with the guest's echo, a request id and the instance", async () => {
    for (const method of ["GET", "POST", "PUT", "DELETE", "PATCH"]) {
      const answer = await call(base, "/echo/a/b?x=1", {
        method,
        ...(method === "GET" || method === "DELETE" ? {} : { body: "hi" }),
      });
      expect(answer.status).toBe(200);
      const expected =
        method === "GET" || method === "DELETE" ? `${method} /echo/a/b\n` : `${method} /echo/a/b\nhi`;
      expect(answer.body.toString()).toBe(expected);
      expect(answer.headers["x-wasmatrix-instance"]).toBe("echo");
      expect(answer.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
      expect(answer.headers["x-echo-method"]).toBe(method);
    }
  });

  it("carries binary bodies byte for byte, and headers both ways", async () => {
    const bytes = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7) % 256));
    const answer = await call(base, "/echo/bin", {
      method: "POST",
      body: bytes,
      headers: { "content-type": "application/x-test-binary", "x-request-id": "given-id.1" },
    });
    expect(answer.status).toBe(200);
    expect(answer.headers["content-type"]).toBe("application/x-test-binary");
    expect(answer.headers["x-request-id"]).toBe("given-id.1");
    expect(Buffer.compare(answer.body, Buffer.concat([Buffer.from("POST /echo/bin\n"), bytes]))).toBe(0);
  });

  it("answers the status the guest chooses", async () => {
    expect((await call(base, "/echo?status=201")).status).toBe(201);
    expect((await call(base, "/echo?status=418")).status).toBe(418);
  });

  it("answers 404 without a route, 405 with Allow for a method the route does not take", async () => {
    const missing = await call(base, "/nowhere");
    expect(missing.status).toBe(404);
    expect(missing.headers["x-request-id"]).toBeTruthy();
    // /echoes is not under /echo: prefixes match whole segments.
    expect((await call(base, "/echoes")).status).toBe(404);
    const refused = await call(base, "/echo/ro/x", { method: "POST", body: "x" });
    expect(refused.status).toBe(405);
    expect(refused.headers["allow"]).toBe("GET, HEAD");
    expect((await call(base, "/echo/ro/x")).status).toBe(200);
  });

  it("answers 413 for a body over --max-body, declared or streamed", async () => {
    const big = Buffer.alloc(64 * 1024 + 1, 1);
    expect((await call(base, "/echo", { method: "POST", body: big })).status).toBe(413);
    const exact = Buffer.alloc(64 * 1024 - 100, 2);
    expect((await call(base, "/echo", { method: "POST", body: exact })).status).toBe(200);
  });

  it("answers 503 with Retry-After when the instance's queue is full, and serves the rest", async () => {
    await start("narrow", echo, {
      limits: pb.InstanceLimits.fromPartial({ maxConcurrency: 1, queueDepth: 1 }),
    });
    await route({ name: "narrow", pathPrefix: "/narrow", targetInstance: "narrow" });
    await gateway.directory.refresh();
    const answers = await Promise.all(Array.from({ length: 6 }, () => call(base, "/narrow?sleep_ms=400")));
    const busy = answers.filter((a) => a.status === 503);
    expect(busy.length).toBeGreaterThan(0);
    for (const a of busy) expect(Number(a.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    expect(answers.filter((a) => a.status === 200).length).toBeGreaterThan(0);
    expect(answers.every((a) => a.status === 200 || a.status === 503)).toBe(true);
  });

  it("drops a queued request whose client went away: the guest never runs it", async () => {
    await start("dropping", echo, {
      limits: pb.InstanceLimits.fromPartial({ maxConcurrency: 1, queueDepth: 4 }),
    });
    await route({ name: "dropping", pathPrefix: "/dropping", targetInstance: "dropping" });
    await gateway.directory.refresh();
    const first = call(base, "/dropping?sleep_ms=1500");
    await new Promise((resolve) => setTimeout(resolve, 100));
    // Queued behind the first, then abandoned by its client.
    const gone = await call(base, "/dropping?n=2", { signal: AbortSignal.timeout(300) }).catch(
      (e: Error) => e,
    );
    expect(gone).toBeInstanceOf(Error);
    expect((await first).headers["x-echo-served"]).toBe("1");
    const next = await call(base, "/dropping?n=3");
    expect(next.status).toBe(200);
    // 2, not 3: the abandoned request never reached the guest.
    expect(next.headers["x-echo-served"]).toBe("2");
  });

  it("answers 504 when the guest runs past its invoke timeout", async () => {
    await start("slow", echo, {
      limits: pb.InstanceLimits.fromPartial({ invokeTimeoutMs: 300 }),
      restartPolicy: { policy: { $case: "always", value: {} } },
    });
    await route({ name: "slow", pathPrefix: "/slow", targetInstance: "slow" });
    await gateway.directory.refresh();
    const answer = await call(base, "/slow?sleep_ms=5000");
    expect(answer.status).toBe(504);
    expect(answer.body.toString()).toContain(String(answer.headers["x-request-id"]));
  });

  it("answers 500 with only the request id when the guest crashes or errs", async () => {
    await start("proxy", Buffer.from(await guests.proxy()), {
      restartPolicy: { policy: { $case: "always", value: {} } },
    });
    await route({ name: "crash", pathPrefix: "/crash", targetInstance: "proxy", operation: "trap" });
    await route({ name: "unknown-op", pathPrefix: "/unknown", targetInstance: "echo", operation: "nope" });
    await gateway.directory.refresh();
    for (const path of ["/crash", "/unknown"]) {
      const answer = await call(base, path);
      expect(answer.status).toBe(500);
      const id = String(answer.headers["x-request-id"]);
      expect(answer.body.toString()).toBe(`internal error; request id ${id}\n`);
    }
    const facts = await embedded.client.queryInstance({ instanceId: "proxy", factLimit: 10 });
    expect(facts.recentFacts.map((f) => f.kind)).toContain("instance.crashed");
  });

  it("balances a label route over running replicas and answers 503 when none runs", async () => {
    for (const id of ["web-1", "web-2"]) await start(id, echo, { labels: { app: "web" } });
    await route({ name: "web", pathPrefix: "/web", targetLabelKey: "app", targetLabelValue: "web" });
    await gateway.directory.refresh();
    const answers = await Promise.all(Array.from({ length: 12 }, () => call(base, "/web?sleep_ms=50")));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(new Set(answers.map((a) => a.headers["x-wasmatrix-instance"]))).toEqual(
      new Set(["web-1", "web-2"]),
    );
    await embedded.client.stopInstance({ instanceId: "web-1", deadlineMs: 0 });
    await gateway.directory.refresh();
    for (let i = 0; i < 4; i++)
      expect((await call(base, "/web")).headers["x-wasmatrix-instance"]).toBe("web-2");
    await embedded.client.stopInstance({ instanceId: "web-2", deadlineMs: 0 });
    await gateway.directory.refresh();
    const none = await call(base, "/web");
    expect(none.status).toBe(503);
    expect(none.headers["retry-after"]).toBe("1");
  });

  it("serves an AssemblyScript guest through the same encoding", async () => {
    const module = await readFile(
      fileURLToPath(new URL("../../examples/build/as_reactor.wasm", import.meta.url)),
    );
    await start("as", module);
    await route({ name: "as", pathPrefix: "/as", targetInstance: "as" });
    await gateway.directory.refresh();
    const answer = await call(base, "/as/x", { method: "POST", body: "body" });
    expect(answer.status).toBe(200);
    expect(answer.headers["x-guest"]).toBe("assemblyscript");
    expect(answer.body.toString()).toBe("POST /as/x\nbody");
  });

  it("records route facts and lists routes", async () => {
    const { routes } = await embedded.client.listRoutes();
    expect(routes.map((r) => r.name)).toContain("echo");
    await embedded.client.removeRoute({ name: "only-get" });
    const kinds: string[] = [];
    for await (const fact of embedded.client.watchEvents(
      pb.WatchEventsRequest.fromPartial({ noFollow: true, kinds: [] }),
    )) {
      if (fact.kind.startsWith("route.")) kinds.push(fact.kind);
    }
    expect(kinds).toContain("route.added");
    expect(kinds).toContain("route.removed");
  });

  it("keeps memory bounded under overload: excess requests get 503 before their bodies are held", async () => {
    const small = await startGateway({ api: embedded.client, listen: "127.0.0.1:0", maxInFlight: 32 });
    try {
      await start("flooded", echo, {
        limits: pb.InstanceLimits.fromPartial({ maxConcurrency: 1, queueDepth: 4 }),
      });
      await route({ name: "flooded", pathPrefix: "/flooded", targetInstance: "flooded" });
      await small.directory.refresh();
      const body = Buffer.alloc(256 * 1024, 7);
      const heapBefore = process.memoryUsage().heapUsed;
      let heapPeak = heapBefore;
      const sampler = setInterval(() => {
        heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);
      }, 5);
      const answers = await Promise.all(
        Array.from({ length: 400 }, () =>
          call(`http://${small.address}`, "/flooded?sleep_ms=20", { method: "POST", body }).catch(() => null),
        ),
      );
      clearInterval(sampler);
      const statuses = answers.map((a) => a?.status ?? 0);
      expect(statuses.every((s) => s === 200 || s === 503 || s === 0)).toBe(true);
      expect(statuses.filter((s) => s === 503).length).toBeGreaterThan(0);
      expect(statuses.filter((s) => s === 200).length).toBeGreaterThan(0);
      expect(small.stats().peakInFlight).toBeLessThanOrEqual(32);
      // 400 bodies held at once would be 100 MiB, twice over with their encoded copies.
      expect(heapPeak - heapBefore).toBeLessThan(80 * 1024 * 1024);
    } finally {
      await small.close();
    }
  });
});

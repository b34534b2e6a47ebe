import { access, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type WasmatrixClient } from "@wasmatrix/client";
import { ErrorCode } from "@wasmatrix/core";
import { type ControlPlaneDaemon, startControlPlaneDaemon } from "@wasmatrix/daemons";
import { EtcdMetadata, MAX_ROUTE_RECORD_BYTES } from "@wasmatrix/etcd";
import * as pb from "@wasmatrix/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failure } from "../cluster/harness.js";
import { type EtcdServer, startEtcd } from "../support/etcd.js";
import { waitFor } from "./harness.js";

const route = (name: string, pathPrefix = `/${name}`) =>
  pb.Route.fromPartial({ name, pathPrefix, targetLabelKey: "app", targetLabelValue: name });

const names = async (client: WasmatrixClient) => (await client.listRoutes()).routes.map((r) => r.name);

/** Waits until `client` lists exactly `expected` (sorted), as a watch on etcd brings it there. */
const listsExactly = (what: string, client: WasmatrixClient, expected: string[]) =>
  waitFor(
    what,
    async () => {
      const listed = await names(client);
      return JSON.stringify(listed) === JSON.stringify(expected) ? listed : undefined;
    },
    { timeoutMs: 20_000 },
  );

/**
 * HTTP routes with several control planes on one real etcd: each route is a key there, every
 * control plane watches them, so a route added or removed on one is added or removed on all, and
 * a control plane started later reads them.
 */
describe("routes shared by control planes on etcd", () => {
  let etcd: EtcdServer;
  let dir: string;
  const planes: ControlPlaneDaemon[] = [];
  const clients: WasmatrixClient[] = [];

  const startPlane = async (routesFile?: string) => {
    const cp = await startControlPlaneDaemon({
      listen: "127.0.0.1:0",
      etcdEndpoints: etcd.endpoints,
      ...(routesFile === undefined ? {} : { routesFile }),
    });
    planes.push(cp);
    const client = connect(cp.address, { timeoutMs: 10_000 });
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    etcd = await startEtcd();
    dir = await mkdtemp(join(tmpdir(), "wasmatrix-routes-"));
  }, 60_000);
  afterAll(async () => {
    for (const client of clients) client.close();
    await Promise.all(planes.map((cp) => cp.close()));
    await etcd?.stop();
    await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it("show a route added on one control plane on the others, and one started later, until removed on any", async () => {
    const a = await startPlane();
    const b = await startPlane();
    const added = await a.addRoute({ route: route("web") });
    expect(added).toMatchObject({ name: "web", pathPrefix: "/web", targetLabelKey: "app" });
    // Visible on A as soon as the call returns, on B once its watch hears it.
    expect(await names(a)).toEqual(["web"]);
    await listsExactly("B to list the route added on A", b, ["web"]);
    const onB = (await b.listRoutes()).routes[0];
    expect(onB).toMatchObject({
      name: "web",
      pathPrefix: "/web",
      targetLabelKey: "app",
      targetLabelValue: "web",
      createdAtMs: added.createdAtMs,
    });

    await b.addRoute({ route: route("api") });
    await listsExactly("A to list both routes", a, ["api", "web"]);

    // A third control plane, started after the routes were added, reads them from etcd.
    const c = await startPlane();
    expect(await names(c)).toEqual(["api", "web"]);

    await b.removeRoute({ name: "web" });
    expect(await names(b)).toEqual(["api"]);
    await listsExactly("A to drop the route removed on B", a, ["api"]);
    await listsExactly("C to drop the route removed on B", c, ["api"]);
    // Removed everywhere, so removing it again anywhere finds nothing.
    expect((await failure(a.removeRoute({ name: "web" }))).code).toBe(ErrorCode.ROUTE_NOT_FOUND);
  }, 90_000);

  it("refuse a name that exists on any control plane with ALREADY_EXISTS, even when both add it at once", async () => {
    const a = await startPlane();
    const b = await startPlane();
    await a.addRoute({ route: route("shop") });
    await listsExactly("B to list the route", b, ["api", "shop"]);
    const taken = await failure(b.addRoute({ route: route("shop", "/elsewhere") }));
    expect(taken.code).toBe(ErrorCode.ALREADY_EXISTS);

    // Both at once, before either hears of the other: etcd lets exactly one create the key.
    const outcomes = await Promise.allSettled([
      a.addRoute({ route: route("race", "/from-a") }),
      b.addRoute({ route: route("race", "/from-b") }),
    ]);
    const won = outcomes.filter((o) => o.status === "fulfilled");
    const lost = outcomes.filter((o) => o.status === "rejected");
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect((lost[0] as PromiseRejectedResult).reason).toMatchObject({ code: ErrorCode.ALREADY_EXISTS });
    const winner = (won[0] as PromiseFulfilledResult<pb.Route>).value.pathPrefix;
    for (const client of [a, b]) {
      await waitFor(
        "both control planes to agree on the route that won",
        async () =>
          (await client.listRoutes()).routes.find((r) => r.name === "race")?.pathPrefix === winner
            ? true
            : undefined,
        { timeoutMs: 20_000 },
      );
    }
  }, 90_000);

  it("keep routes in etcd, not in --routes-file, when both are given", async () => {
    const file = join(dir, "routes.json");
    const client = await startPlane(file);
    await client.addRoute({ route: route("filed") });
    expect(await names(client)).toContain("filed");
    await expect(access(file)).rejects.toMatchObject({ code: "ENOENT" });
    const metadata = await EtcdMetadata.connect({ endpoints: etcd.endpoints });
    try {
      expect((await metadata.listRoutes()).map((r) => r.name)).toContain("filed");
    } finally {
      await metadata.close();
    }
  }, 60_000);
});

describe("EtcdMetadata routes", () => {
  let etcd: EtcdServer;
  let metadata: EtcdMetadata;

  beforeAll(async () => {
    etcd = await startEtcd();
    metadata = await EtcdMetadata.connect({ endpoints: etcd.endpoints });
  }, 60_000);
  afterAll(async () => {
    await metadata?.close();
    await etcd?.stop();
  }, 60_000);

  it("create a route only when its name is free, list it, watch it and delete it once", async () => {
    const seen: string[] = [];
    const watch = await metadata.watchRoutes({
      onPut: ({ name }) => seen.push(`put ${name}`),
      onDelete: (name) => seen.push(`delete ${name}`),
    });
    try {
      expect(await metadata.createRoute("r1", '{"name":"r1"}')).toBe(true);
      expect(await metadata.createRoute("r1", '{"name":"other"}')).toBe(false);
      expect(await metadata.listRoutes()).toEqual([{ name: "r1", json: '{"name":"r1"}' }]);
      await waitFor("the watch to see the put", () => (seen.includes("put r1") ? true : undefined));
      expect(await metadata.deleteRoute("r1")).toBe(true);
      expect(await metadata.deleteRoute("r1")).toBe(false);
      expect(await metadata.listRoutes()).toEqual([]);
      await waitFor("the watch to see the delete", () => (seen.includes("delete r1") ? true : undefined));
      expect(seen).toEqual(["put r1", "delete r1"]);
    } finally {
      await watch.close();
    }
  });

  it("refuse route names no route may have and records over the size cap", async () => {
    for (const bad of ["", "a/b", "../x", "-x", "x".repeat(64)]) {
      await expect(metadata.createRoute(bad, "{}")).rejects.toMatchObject({
        code: ErrorCode.INVALID_REQUEST,
      });
      await expect(metadata.deleteRoute(bad)).rejects.toMatchObject({ code: ErrorCode.INVALID_REQUEST });
    }
    await expect(metadata.createRoute("big", "x".repeat(MAX_ROUTE_RECORD_BYTES + 1))).rejects.toThrow(
      RangeError,
    );
    expect(await metadata.listRoutes()).toEqual([]);
  });
});

import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ErrorCode, WasmatrixError } from "@wasmatrix/core";
import * as pb from "@wasmatrix/proto";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { FileRouteStore, MemoryRouteStore, type RouteStore, RouteTable } from "./route-table.js";

const route = (name: string, pathPrefix = `/${name}`) =>
  pb.Route.fromPartial({ name, pathPrefix, targetLabelKey: "app", targetLabelValue: name });

async function code(call: Promise<unknown>): Promise<string> {
  try {
    await call;
  } catch (error) {
    if (WasmatrixError.is(error)) return error.code;
    throw error;
  }
  throw new Error("the call succeeded");
}

async function table(store: RouteStore): Promise<RouteTable> {
  const t = new RouteTable(store, () => 1_000);
  await t.load();
  return t;
}

const names = (t: RouteTable) => t.list().map((r) => r.name);

describe("route tables sharing one store", () => {
  it("list the same routes after any sequence of adds and removes made on either of them", async () => {
    const op = fc.record({
      on: fc.constantFrom(0, 1),
      add: fc.boolean(),
      name: fc.constantFrom("a", "b", "c", "d"),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 30 }), async (ops) => {
        const store = new MemoryRouteStore();
        const tables = [await table(store), await table(store)];
        const expected = new Set<string>();
        for (const { on, add, name } of ops) {
          const t = tables[on] as RouteTable;
          if (add) {
            const outcome = await t.add(route(name)).then(
              () => "ok",
              (e: WasmatrixError) => e.code,
            );
            expect(outcome).toBe(expected.has(name) ? ErrorCode.ALREADY_EXISTS : "ok");
            expected.add(name);
          } else {
            const outcome = await t.remove(name).then(
              () => "ok",
              (e: WasmatrixError) => e.code,
            );
            expect(outcome).toBe(expected.has(name) ? "ok" : ErrorCode.ROUTE_NOT_FOUND);
            expected.delete(name);
          }
          for (const other of tables) expect(names(other)).toEqual([...expected].sort());
        }
        await Promise.all(tables.map((t) => t.close()));
      }),
      { numRuns: 100 },
    );
  });

  it("refuse a name the store holds even when the table has not heard of it yet", async () => {
    const store = new MemoryRouteStore();
    const t = await table(store);
    await t.close();
    // A closed table hears nothing more, like a control plane whose watch lags behind.
    await store.create(route("late"));
    expect(names(t)).toEqual([]);
    expect(await code(t.add(route("late")))).toBe(ErrorCode.ALREADY_EXISTS);
    expect(names(t)).toEqual([]);
  });

  it("keep what the watch reported last when another control plane changed the route during a write", async () => {
    const store = new MemoryRouteStore();
    const t = await table(store);
    // An add whose own put and then another control plane's remove arrive before it returns.
    const racingAdd = Object.create(store) as MemoryRouteStore;
    racingAdd.create = async (r) => {
      const created = await store.create(r);
      await store.remove(r.name);
      return created;
    };
    const t2 = await table(racingAdd);
    await t2.add(route("gone"));
    expect(names(t2)).toEqual([]);
    expect(names(t)).toEqual([]);

    // A remove, after which another control plane adds the name again before it returns.
    await t.add(route("back", "/old"));
    const racingRemove = Object.create(store) as MemoryRouteStore;
    racingRemove.remove = async (name) => {
      const removed = await store.remove(name);
      await store.create(route(name, "/new"));
      return removed;
    };
    const t3 = await table(racingRemove);
    await t3.remove("back");
    expect(t3.list()).toMatchObject([{ name: "back", pathPrefix: "/new" }]);
    expect(t.list()).toMatchObject([{ name: "back", pathPrefix: "/new" }]);
  });

  it("leave the table as it was when the store fails, and say INTERNAL", async () => {
    const failing: RouteStore = {
      watch: async () => ({ close: async () => undefined }),
      create: async () => {
        throw new Error("disk full");
      },
      remove: async () => {
        throw new Error("disk full");
      },
    };
    const t = await table(failing);
    expect(await code(t.add(route("x")))).toBe(ErrorCode.INTERNAL);
    expect(names(t)).toEqual([]);
  });

  it("skip a stored route that no longer checks and report it", async () => {
    const store = new MemoryRouteStore();
    await store.create(pb.Route.fromPartial({ name: "bad", pathPrefix: "no-slash" }));
    await store.create(route("good"));
    const skipped: string[] = [];
    const t = new RouteTable(store, () => 1);
    await t.load((name) => skipped.push(name));
    expect(names(t)).toEqual(["good"]);
    expect(skipped).toEqual(["bad"]);
  });
});

describe("FileRouteStore", () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it("keeps routes across a restart in a file only its owner can read", async () => {
    dir = await mkdtemp(join(tmpdir(), "wasmatrix-route-file-"));
    const path = join(dir, "state", "routes.json");
    const first = await table(new FileRouteStore(path));
    await first.add(route("a"));
    await first.add(route("b"));
    await first.remove("a");
    await first.close();
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(path, "utf8")).routes.map((r: pb.Route) => r.name)).toEqual(["b"]);

    const second = await table(new FileRouteStore(path));
    expect(second.list()).toMatchObject([{ name: "b", pathPrefix: "/b", createdAtMs: 1_000 }]);
    expect(await code(second.add(route("b")))).toBe(ErrorCode.ALREADY_EXISTS);
  });

  it("starts empty when the file does not exist yet", async () => {
    dir = await mkdtemp(join(tmpdir(), "wasmatrix-route-file-"));
    const t = await table(new FileRouteStore(join(dir, "none.json")));
    expect(t.list()).toEqual([]);
  });
});

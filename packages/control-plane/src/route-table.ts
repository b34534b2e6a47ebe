import { randomUUID } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { ErrorCode, MAX_ROUTES, type Route, WasmatrixError } from "@wasmatrix/core";
import type * as pb from "@wasmatrix/proto";
import { routeFromProto, routeToProto } from "@wasmatrix/proto";

export interface RouteStoreHandlers {
  put(route: pb.Route): void;
  delete(name: string): void;
}

/**
 * Where routes outlive the control plane. Unlike assignments, which nodes report back after a
 * restart because they hold the instances, no node holds a route: the control plane is their
 * only keeper. Each control plane watches its store, so with a store shared by several (etcd) a
 * route added or removed on one appears or goes on all of them.
 */
export interface RouteStore {
  /** Calls `put` for every stored route, then for each change (from any control plane), until closed. */
  watch(handlers: RouteStoreHandlers): Promise<{ close(): Promise<void> }>;
  /** Stores a new route; false when a route of that name is stored already. */
  create(route: pb.Route): Promise<boolean>;
  /** Deletes it; false when there was none. */
  remove(name: string): Promise<boolean>;
}

/** Routes live as long as the process (`wasmatrix up`, tests). */
export class MemoryRouteStore implements RouteStore {
  protected readonly routes = new Map<string, pb.Route>();
  private readonly watchers = new Set<RouteStoreHandlers>();

  async watch(handlers: RouteStoreHandlers) {
    for (const route of this.routes.values()) handlers.put({ ...route });
    this.watchers.add(handlers);
    return { close: async () => void this.watchers.delete(handlers) };
  }

  async create(route: pb.Route): Promise<boolean> {
    if (this.routes.has(route.name)) return false;
    this.routes.set(route.name, { ...route });
    try {
      await this.changed();
    } catch (error) {
      this.routes.delete(route.name);
      throw error;
    }
    for (const w of this.watchers) w.put({ ...route });
    return true;
  }

  async remove(name: string): Promise<boolean> {
    const route = this.routes.get(name);
    if (route === undefined) return false;
    this.routes.delete(name);
    try {
      await this.changed();
    } catch (error) {
      this.routes.set(name, route);
      throw error;
    }
    for (const w of this.watchers) w.delete(name);
    return true;
  }

  /** Called after each change, before watchers hear of it; when it fails the change is undone. */
  protected async changed(): Promise<void> {}
}

/**
 * A JSON file written atomically (temp file + rename), mode 0600, read back on start. One
 * control plane only: nothing tells it about changes another process makes to the file.
 */
export class FileRouteStore extends MemoryRouteStore {
  private loaded = false;

  constructor(readonly path: string) {
    super();
  }

  override async watch(handlers: RouteStoreHandlers) {
    await this.load();
    return super.watch(handlers);
  }

  override async create(route: pb.Route): Promise<boolean> {
    await this.load();
    return super.create(route);
  }

  override async remove(name: string): Promise<boolean> {
    await this.load();
    return super.remove(name);
  }

  protected override async changed(): Promise<void> {
    const routes = [...this.routes.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
    await mkdir(dirname(this.path), { recursive: true });
    const temp = `${this.path}.${randomUUID()}.tmp`;
    await writeFile(temp, `${JSON.stringify({ routes }, null, 2)}\n`, { mode: 0o600 });
    await rename(temp, this.path);
  }

  private async load(): Promise<void> {
    if (this.loaded) return;
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      text = "{}";
    }
    const parsed = JSON.parse(text) as { routes?: pb.Route[] };
    for (const route of parsed.routes ?? []) this.routes.set(route.name, route);
    this.loaded = true;
  }
}

interface Entry {
  readonly route: Route;
  readonly message: pb.Route;
}

/**
 * The control plane's routes: checked on the way in, written through to the store, and kept as
 * the store's watch reports (so changes made by other control planes on a shared store show too).
 */
export class RouteTable {
  private readonly entries = new Map<string, Entry>();
  // Changes are serialised so that a remove never overtakes the add it follows.
  private queue: Promise<unknown> = Promise.resolve();
  private watch: { close(): Promise<void> } | null = null;
  private closed = false;
  private onSkipped: (name: string, error: unknown) => void = () => undefined;
  /** The name a change is being written for, and whether the watch spoke of it meanwhile. */
  private inFlight: { name: string; heard: boolean } | null = null;

  constructor(
    private readonly store: RouteStore,
    private readonly now: () => number,
  ) {}

  /**
   * Reads the stored routes and keeps following the store until `close`; one that no longer
   * checks is skipped (and reported) rather than failing the start.
   */
  async load(onSkipped: (name: string, error: unknown) => void = () => undefined): Promise<void> {
    this.onSkipped = onSkipped;
    if (this.watch !== null || this.closed) return;
    const watch = await this.store.watch({
      put: (message) => {
        this.hear(message.name);
        this.apply(message);
      },
      delete: (name) => {
        this.hear(name);
        this.entries.delete(name);
      },
    });
    if (this.closed) await watch.close();
    else this.watch = watch;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.watch?.close();
    this.watch = null;
  }

  list(): pb.Route[] {
    return [...this.entries.values()].map((e) => e.message).sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  routes(): Route[] {
    return [...this.entries.values()].map((e) => e.route);
  }

  add(message: pb.Route | undefined): Promise<{ route: Route; message: pb.Route }> {
    return this.serialised(async () => {
      const route = routeFromProto(message);
      if (this.entries.has(route.name)) throw routeExists(route.name);
      if (this.entries.size >= MAX_ROUTES) {
        throw new WasmatrixError(ErrorCode.RESOURCE_EXHAUSTED, `at most ${MAX_ROUTES} routes`, {
          max: MAX_ROUTES,
        });
      }
      const entry = { route, message: routeToProto(route, this.now()) };
      // Another control plane may have taken the name an instant ago: the store decides.
      const created = await this.writing(route.name, () => this.store.create(entry.message));
      if (!created.ok) throw routeExists(route.name);
      // The watch applies it too; applying here makes it visible as soon as the call returns.
      if (!created.heard) this.entries.set(route.name, entry);
      return entry;
    });
  }

  remove(name: string): Promise<{ route: Route; message: pb.Route }> {
    return this.serialised(async () => {
      const entry = this.entries.get(name);
      if (entry === undefined) throw routeNotFound(name);
      const removed = await this.writing(name, () => this.store.remove(name));
      if (!removed.heard) this.entries.delete(name);
      // Gone from the store already: another control plane removed it first.
      if (!removed.ok) throw routeNotFound(name);
      return entry;
    });
  }

  private apply(message: pb.Route): void {
    try {
      const route = routeFromProto(message);
      this.entries.set(route.name, { route, message: routeToProto(route, message.createdAtMs) });
    } catch (error) {
      this.onSkipped(message.name, error);
    }
  }

  private hear(name: string): void {
    if (this.inFlight?.name === name) this.inFlight.heard = true;
  }

  private serialised<T>(run: () => Promise<T>): Promise<T> {
    const result = this.queue.then(run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  /**
   * Writes one change to the store. `heard`: the watch reported that name while the write was
   * under way, so the table already holds what the store said last (which may be a later change
   * from another control plane) and the caller must not apply its own change over it. A store
   * failure becomes INTERNAL, and the table is left as it was.
   */
  private async writing(
    name: string,
    write: () => Promise<boolean>,
  ): Promise<{ ok: boolean; heard: boolean }> {
    const inFlight = { name, heard: false };
    this.inFlight = inFlight;
    try {
      const ok = await write();
      return { ok, heard: inFlight.heard };
    } catch (error) {
      throw new WasmatrixError(
        ErrorCode.INTERNAL,
        `cannot save routes: ${(error as Error).message}`,
        {},
        { cause: error },
      );
    } finally {
      this.inFlight = null;
    }
  }
}

function routeExists(name: string): WasmatrixError {
  return new WasmatrixError(
    ErrorCode.ALREADY_EXISTS,
    `route '${name}' exists already; remove it first (wasmatrix route remove ${name})`,
    { route: name },
  );
}

function routeNotFound(name: string): WasmatrixError {
  return new WasmatrixError(
    ErrorCode.ROUTE_NOT_FOUND,
    `no route '${name}'; \`wasmatrix route list\` shows them`,
    {
      route: name,
    },
  );
}

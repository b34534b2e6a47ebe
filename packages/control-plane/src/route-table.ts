import { randomUUID } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { ErrorCode, MAX_ROUTES, type Route, WasmatrixError } from "@wasmatrix/core";
import type * as pb from "@wasmatrix/proto";
import { routeFromProto, routeToProto } from "@wasmatrix/proto";

/**
 * Where routes outlive the control plane. Unlike assignments, which nodes report back after a
 * restart because they hold the instances, no node holds a route: the control plane is their
 * only keeper, so it writes them through to a store and reads them back on start.
 */
export interface RouteStore {
  load(): Promise<pb.Route[]>;
  /** The whole table after a change; routes are few, so a snapshot keeps the store simple. */
  save(routes: pb.Route[]): Promise<void>;
}

/** Routes live as long as the process (`wasmatrix up`, tests). */
export class MemoryRouteStore implements RouteStore {
  private routes: pb.Route[] = [];
  async load(): Promise<pb.Route[]> {
    return this.routes.map((r) => ({ ...r }));
  }
  async save(routes: pb.Route[]): Promise<void> {
    this.routes = routes.map((r) => ({ ...r }));
  }
}

/** A JSON file written atomically (temp file + rename), mode 0600, read back on start. */
export class FileRouteStore implements RouteStore {
  constructor(readonly path: string) {}

  async load(): Promise<pb.Route[]> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw error;
    }
    const parsed = JSON.parse(text) as { routes?: pb.Route[] };
    return parsed.routes ?? [];
  }

  async save(routes: pb.Route[]): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    const temp = `${this.path}.${randomUUID()}.tmp`;
    await writeFile(temp, `${JSON.stringify({ routes }, null, 2)}\n`, { mode: 0o600 });
    await rename(temp, this.path);
  }
}

interface Entry {
  readonly route: Route;
  readonly message: pb.Route;
}

/** The control plane's routes: checked on the way in, written through to the store. */
export class RouteTable {
  private readonly entries = new Map<string, Entry>();
  // Changes are serialised so that two saves never race and the store always ends as the table.
  private writing: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: RouteStore,
    private readonly now: () => number,
  ) {}

  /** Reads the stored routes; one that no longer checks is skipped rather than failing the start. */
  async load(onSkipped: (name: string, error: unknown) => void = () => undefined): Promise<void> {
    for (const message of await this.store.load()) {
      try {
        const route = routeFromProto(message);
        this.entries.set(route.name, { route, message: routeToProto(route, message.createdAtMs) });
      } catch (error) {
        onSkipped(message.name, error);
      }
    }
  }

  list(): pb.Route[] {
    return [...this.entries.values()].map((e) => e.message).sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  routes(): Route[] {
    return [...this.entries.values()].map((e) => e.route);
  }

  add(message: pb.Route | undefined): Promise<{ route: Route; message: pb.Route }> {
    return this.change(
      () => {
        const route = routeFromProto(message);
        if (this.entries.has(route.name)) {
          throw new WasmatrixError(
            ErrorCode.ALREADY_EXISTS,
            `route '${route.name}' exists already; remove it first (wasmatrix route remove ${route.name})`,
            { route: route.name },
          );
        }
        if (this.entries.size >= MAX_ROUTES) {
          throw new WasmatrixError(ErrorCode.RESOURCE_EXHAUSTED, `at most ${MAX_ROUTES} routes`, {
            max: MAX_ROUTES,
          });
        }
        const entry = { route, message: routeToProto(route, this.now()) };
        this.entries.set(route.name, entry);
        return entry;
      },
      (entry) => this.entries.delete(entry.route.name),
    );
  }

  remove(name: string): Promise<{ route: Route; message: pb.Route }> {
    return this.change(
      () => {
        const entry = this.entries.get(name);
        if (entry === undefined) {
          throw new WasmatrixError(
            ErrorCode.ROUTE_NOT_FOUND,
            `no route '${name}'; \`wasmatrix route list\` shows them`,
            {
              route: name,
            },
          );
        }
        this.entries.delete(name);
        return entry;
      },
      (entry) => this.entries.set(entry.route.name, entry),
    );
  }

  /** Applies `apply`, saves, and undoes with `undo` if the save fails: the answer is then the failure. */
  private change<T>(apply: () => T, undo: (value: T) => void): Promise<T> {
    const run = this.writing.then(async () => {
      const value = apply();
      try {
        await this.store.save(this.list());
      } catch (error) {
        undo(value);
        throw new WasmatrixError(
          ErrorCode.INTERNAL,
          `cannot save routes: ${(error as Error).message}`,
          {},
          { cause: error },
        );
      }
      return value;
    });
    this.writing = run.catch(() => undefined);
    return run;
  }
}

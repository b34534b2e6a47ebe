import type { Candidate, Route } from "@wasmatrix/core";
import type { Logger } from "@wasmatrix/core/logger";
import type * as pb from "@wasmatrix/proto";
import { routeFromProto } from "@wasmatrix/proto";

/** Fact kinds after which the routes or the instances a gateway knows may be stale. */
const REFRESH_ON = /^(route|instance|node)\./;

export interface DirectoryOptions {
  /** Refresh at least this often even without facts (a missed fact, a reconnect). Default 2 s. */
  refreshMs?: number;
  logger: Logger;
}

/**
 * What a gateway knows of the cluster: the routes and the instances (status, labels). It holds
 * no state of its own: it reads ListRoutes and ListInstances from the control plane, again
 * whenever WatchEvents shows a route, instance or node fact, and on a timer, so any number of
 * gateways can run and any of them can restart.
 */
export class Directory {
  private routeList: Route[] = [];
  private instanceList: Candidate[] = [];
  private readonly abort = new AbortController();
  private timer: NodeJS.Timeout | null = null;
  private refreshing: Promise<void> | null = null;
  private again = false;
  private loaded = false;

  constructor(
    private readonly api: pb.ControlPlaneApi,
    private readonly options: DirectoryOptions,
  ) {}

  get routes(): readonly Route[] {
    return this.routeList;
  }

  get instances(): readonly Candidate[] {
    return this.instanceList;
  }

  get ready(): boolean {
    return this.loaded;
  }

  /** Loads once (failing if the control plane cannot be read), then follows changes. */
  async start(): Promise<void> {
    await this.load();
    this.timer = setInterval(() => void this.refresh(), this.options.refreshMs ?? 2_000);
    this.timer.unref();
    void this.follow();
  }

  close(): void {
    this.abort.abort();
    if (this.timer !== null) clearInterval(this.timer);
  }

  /** Reads routes and instances again; concurrent calls coalesce into at most one more read. */
  refresh(): Promise<void> {
    if (this.refreshing !== null) {
      this.again = true;
      return this.refreshing;
    }
    this.refreshing = (async () => {
      do {
        this.again = false;
        try {
          await this.load();
        } catch (error) {
          // The last known table keeps serving; the next fact or tick tries again.
          this.options.logger.warn({ err: error }, "gateway: cannot refresh routes and instances");
        }
      } while (this.again && !this.abort.signal.aborted);
    })().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private async load(): Promise<void> {
    const [routes, instances] = await Promise.all([
      this.api.listRoutes(),
      this.api.listInstances({ nodeId: "", status: "" }),
    ]);
    const checked: Route[] = [];
    for (const message of routes.routes) {
      try {
        checked.push(routeFromProto(message));
      } catch (error) {
        this.options.logger.warn({ route: message.name, err: error }, "gateway: route skipped");
      }
    }
    this.routeList = checked;
    this.instanceList = instances.instances.map((i) => ({
      instanceId: i.instanceId,
      status: i.status,
      labels: i.labels,
    }));
    this.loaded = true;
  }

  private async follow(): Promise<void> {
    const { signal } = this.abort;
    let afterSeq = 0;
    while (!signal.aborted) {
      try {
        for await (const fact of this.api.watchEvents(
          { afterSeq, instanceId: "", kinds: [], noFollow: false },
          signal,
        )) {
          afterSeq = fact.seq;
          if (REFRESH_ON.test(fact.kind)) void this.refresh();
        }
      } catch (error) {
        if (signal.aborted) return;
        this.options.logger.debug({ err: error }, "gateway: fact stream ended; following again");
      }
      if (signal.aborted) return;
      // A restarted control plane numbers facts from 1 again: start over, and read everything.
      afterSeq = 0;
      await new Promise((resolve) => setTimeout(resolve, 500).unref());
      void this.refresh();
    }
  }

  /** Marks an instance as not running until the next refresh (a failed call said so). */
  markUnavailable(instanceId: string): void {
    this.instanceList = this.instanceList.map((i) =>
      i.instanceId === instanceId ? { ...i, status: "unavailable" } : i,
    );
    void this.refresh();
  }
}

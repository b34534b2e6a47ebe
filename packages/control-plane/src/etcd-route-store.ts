import type { Logger } from "@wasmatrix/core/logger";
import type { EtcdMetadata } from "@wasmatrix/etcd";
import * as pb from "@wasmatrix/proto";
import type { RouteStore, RouteStoreHandlers } from "./route-table.js";

/**
 * Routes in etcd under `/wasmatrix/v1/routes/<name>` (through the key guard): every control plane
 * of a cluster watches them, so each serves the same table, and they outlive any restart.
 */
export class EtcdRouteStore implements RouteStore {
  constructor(
    private readonly etcd: EtcdMetadata,
    private readonly logger: Logger,
  ) {}

  watch(handlers: RouteStoreHandlers) {
    return this.etcd.watchRoutes({
      onPut: ({ name, json }) => {
        let route: pb.Route;
        try {
          route = pb.Route.fromJSON(JSON.parse(json));
        } catch (error) {
          this.logger.warn({ err: error, route: name }, "routes: unreadable record in etcd");
          return;
        }
        // The key names the route: a record claiming another name is not trusted.
        if (route.name !== name) {
          this.logger.warn({ route: name, recorded: route.name }, "routes: record names another route");
          return;
        }
        handlers.put(route);
      },
      onDelete: (name) => handlers.delete(name),
      onInvalid: (key, error) => this.logger.warn({ err: error, key }, "routes: invalid key in etcd"),
    });
  }

  create(route: pb.Route): Promise<boolean> {
    return this.etcd.createRoute(route.name, JSON.stringify(pb.Route.toJSON(route)));
  }

  remove(name: string): Promise<boolean> {
    return this.etcd.deleteRoute(name);
  }
}

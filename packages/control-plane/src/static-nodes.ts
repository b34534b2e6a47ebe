import type { Metrics } from "@wasmatrix/core";
import type { Logger } from "@wasmatrix/core/logger";
import type { TlsMaterial } from "@wasmatrix/proto";
import { NodePoller } from "./node-poller.js";
import type { NodeSink, NodeSource } from "./node-source.js";

/**
 * Nodes known by address (`--node`): a node from a static list cannot register, so it is asked
 * who it is and what it runs every interval instead, and one that stops answering is lost like
 * any other (by heartbeat liveness).
 */
export class StaticNodes implements NodeSource {
  private readonly pollers: NodePoller[];

  constructor(
    sink: NodeSink,
    addresses: readonly string[],
    options: {
      intervalMs: number;
      logger: Logger;
      tls?: TlsMaterial | undefined;
      metrics?: Metrics | undefined;
    },
  ) {
    this.pollers = addresses.map((address) => new NodePoller(sink, { address, ...options }));
  }

  start(): void {
    for (const poller of this.pollers) poller.start();
  }

  close(): void {
    for (const poller of this.pollers) poller.stop();
  }
}

import type { Fact } from "@wasmatrix/core";
import type * as pb from "@wasmatrix/proto";
import type { NodeSink, NodeSource } from "./node-source.js";
import type { NodeApi } from "./node-table.js";

/** A node agent in the control plane's own process, as the source needs to see it. */
export interface LocalNode {
  readonly node: pb.Node;
  readonly api: NodeApi;
  /** Calls `listener` with each instance as it changes; returns the way to stop. */
  onInstance(listener: (instance: pb.Instance) => void): () => void;
  /** Calls `listener` with each fact as the node records it; returns the way to stop. */
  onFact(listener: (fact: Fact) => void): () => void;
}

/**
 * The node that shares the control plane's process (`wasmatrix up`): registered as local, so it
 * is never lost to silence, and reporting every change as it happens instead of over the network.
 */
export class LocalNodeSource implements NodeSource {
  private readonly stops: (() => void)[] = [];

  constructor(
    private readonly sink: NodeSink,
    private readonly local: LocalNode,
  ) {}

  start(): void {
    this.sink.registerNode(this.local.node, this.local.api, { local: true });
    this.stops.push(this.local.onFact((fact) => this.sink.recordFacts([fact])));
    this.stops.push(this.local.onInstance((instance) => this.sink.reportInstance(instance)));
  }

  close(): void {
    for (const stop of this.stops.splice(0)) stop();
  }
}

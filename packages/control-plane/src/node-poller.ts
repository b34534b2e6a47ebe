import type { Metrics } from "@wasmatrix/core";
import type { Logger } from "@wasmatrix/core/logger";
import type * as pb from "@wasmatrix/proto";
import { connectNode, type NodeConnection, type TlsMaterial } from "@wasmatrix/proto";
import type { NodeSink } from "./node-source.js";

/** Facts asked for in one ListFacts call, and calls per poll at most (the rest follow next poll). */
const FACTS_PER_PAGE = 1_000;
const MAX_FACT_PAGES_PER_POLL = 10;

export interface NodePollerOptions {
  address: string;
  /** How often to poll; a poll also gives up after this long. */
  intervalMs: number;
  logger: Logger;
  /** Mutual TLS to the node: the control plane's own certificate. */
  tls?: TlsMaterial | undefined;
  /** Over TLS, the node id whose certificate the node must present, when it is known beforehand (etcd). */
  peerNodeId?: string;
  /** Where the calls to the node are timed (gRPC client metrics). */
  metrics?: Metrics | undefined;
  /**
   * The node as etcd describes it: registered at once, before it first answers. Without it (a
   * static node list) the node is registered from its own NodeInfo answer on the first poll.
   */
  known?: pb.Node;
  /** Told after each poll the node did not answer. */
  onUnanswered?(error: Error): void;
  /**
   * Sees the instances the node reported before the control plane does, and returns the ones to
   * apply (etcd discovery uses it to hold back instances that another control plane just moved).
   */
  beforeReport?(nodeId: string, instances: pb.Instance[]): Promise<pb.Instance[]>;
}

/**
 * A node the control plane learns about by asking instead of by being told: every interval it
 * reads the node's instance table (which becomes the control plane's view of that node, as a
 * ReportStatus would) and the facts the node recorded since the last poll. Used for static node
 * lists and for nodes discovered in etcd.
 */
export class NodePoller {
  /** Calls the control plane routes to the node: the usual deadlines. */
  readonly api: NodeConnection;
  /** Polls: they give up within an interval. */
  private readonly probe: NodeConnection;
  private registered: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<boolean> | null = null;
  private stopped = false;
  /** The node's own seq of the last fact recorded, and the source (node run) it came from. */
  private factCursor = 0;
  private factSource: string | null = null;
  private silentLogged = false;

  constructor(
    private readonly controlPlane: NodeSink,
    private readonly options: NodePollerOptions,
  ) {
    const peer =
      options.peerNodeId === undefined ? {} : { peer: { kind: "node" as const, id: options.peerNodeId } };
    const metrics = options.metrics === undefined ? {} : { metrics: options.metrics };
    this.api = connectNode(options.address, { tls: options.tls, ...peer, ...metrics });
    this.probe = connectNode(options.address, {
      timeoutMs: options.intervalMs,
      tls: options.tls,
      ...peer,
      ...metrics,
    });
    if (options.known !== undefined) this.register(options.known);
  }

  get nodeId(): string | null {
    return this.registered;
  }

  get address(): string {
    return this.options.address;
  }

  start(): void {
    void this.poll();
    this.timer = setInterval(() => {
      if (this.running === null) void this.poll();
    }, this.options.intervalMs);
  }

  /** Polls now, after the poll in flight if there is one; true if the node answered. */
  poll(): Promise<boolean> {
    const previous = this.running ?? Promise.resolve(true);
    const next = previous.then(() => this.pollOnce());
    this.running = next;
    void next.finally(() => {
      if (this.running === next) this.running = null;
    });
    return next;
  }

  /** Whether the node answers right now, outside the sequence of polls (so a poll may ask it of another node). */
  async answers(): Promise<boolean> {
    if (this.stopped) return false;
    return this.probe.nodeInfo().then(
      () => true,
      () => false,
    );
  }

  /** Stops polling and closes the probe; `api` belongs to the control plane once registered. */
  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.probe.close();
    if (this.registered === null) this.api.close();
  }

  /** (Re-)registers the node under what etcd says of it, keeping the same connection. */
  register(node: pb.Node): void {
    this.controlPlane.registerNode({ ...node, address: this.options.address }, this.api);
    if (this.registered !== node.nodeId) this.resetFacts();
    this.registered = node.nodeId;
  }

  private async pollOnce(): Promise<boolean> {
    if (this.stopped) return false;
    try {
      if (this.options.known === undefined) {
        const info = await this.probe.nodeInfo();
        if (this.registered !== info.nodeId) this.register(info);
      }
      const nodeId = this.registered;
      if (nodeId === null) return false;
      let { instances } = await this.probe.listInstances({ nodeId: "", status: "" });
      if (this.options.beforeReport !== undefined)
        instances = await this.options.beforeReport(nodeId, instances);
      if (this.stopped) return true;
      if (!this.controlPlane.reportStatus(nodeId, instances)) {
        // The control plane forgot the node (it was deregistered) while it still answers.
        if (this.options.known === undefined) return true;
        this.register(this.options.known);
        this.controlPlane.reportStatus(nodeId, instances);
      }
      await this.pullFacts().catch((error: unknown) =>
        // The instance table arrived, so the node answered; facts come again with the next poll.
        this.options.logger.debug(
          { nodeId, error: (error as Error).message },
          "could not read the node's facts",
        ),
      );
      if (this.silentLogged)
        this.options.logger.info({ nodeId, address: this.address }, "node answers again");
      this.silentLogged = false;
      return true;
    } catch (error) {
      if (!this.silentLogged) {
        this.options.logger.debug(
          { nodeId: this.registered, address: this.address, error: (error as Error).message },
          "node did not answer a poll",
        );
      }
      this.silentLogged = true;
      if (!this.stopped) this.options.onUnanswered?.(error as Error);
      return false;
    }
  }

  /**
   * Asks for the facts after the last one seen, starting one earlier: that fact coming back
   * unchanged proves the node is the same run (facts are numbered afresh by a restarted node, under
   * a new source); otherwise it is read again from its first fact. The control plane ignores
   * facts it already holds by (source, source sequence).
   */
  private async pullFacts(): Promise<void> {
    for (let page = 0; page < MAX_FACT_PAGES_PER_POLL; page++) {
      const { facts } = await this.probe.listFacts({
        afterSeq: Math.max(0, this.factCursor - 1),
        limit: FACTS_PER_PAGE,
      });
      if (this.factCursor > 0) {
        const first = facts[0];
        if (first === undefined || first.source !== this.factSource || first.seq < this.factCursor) {
          this.resetFacts();
          continue;
        }
      }
      this.controlPlane.recordProtoFacts(facts);
      const last = facts.at(-1);
      if (last !== undefined) {
        this.factCursor = last.seq;
        this.factSource = last.source;
      }
      if (facts.length < FACTS_PER_PAGE) return;
    }
  }

  private resetFacts(): void {
    this.factCursor = 0;
    this.factSource = null;
  }
}

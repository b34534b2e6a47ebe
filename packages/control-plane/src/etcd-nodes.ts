import { isEnded, type Metrics } from "@wasmatrix/core";
import type { Logger } from "@wasmatrix/core/logger";
import type { EtcdMetadata, MetadataWatch, NodeRecord } from "@wasmatrix/etcd";
import * as pb from "@wasmatrix/proto";
import { NodePoller } from "./node-poller.js";
import type { NodeSink, NodeSource } from "./node-source.js";

interface Discovered {
  readonly nodeId: string;
  readonly poller: NodePoller;
  record: NodeRecord;
  /** Whether the node's key is in etcd, i.e. its lease is alive. */
  inEtcd: boolean;
  /** A decision about its departure is being made. */
  departing: boolean;
}

/** Providers registered in etcd are offered to nodes too, while their lease lives. */
export interface EtcdSink extends NodeSink {
  registerProvider(provider: pb.Provider, options: { leased: boolean }): void;
  removeProvider(providerId: string): void;
}

export interface EtcdNodesOptions {
  intervalMs: number;
  logger: Logger;
  /** Mutual TLS to the nodes: the control plane's own certificate. */
  tls?: pb.TlsMaterial | undefined;
  /** Where the calls to the nodes are timed (gRPC client metrics). */
  metrics?: Metrics | undefined;
}

/**
 * Nodes found in etcd. A node's key appearing registers it and starts polling it; the key going
 * away (its lease expired, or the node revoked it on the way out) ends it: a node whose instances
 * had all ended left on purpose and is deregistered; one that still ran instances is lost, and the
 * control plane records that and starts its `always`/`backoff` instances elsewhere.
 *
 * While its key exists a node is alive, whether or not it answers polls: the lease is the one
 * view of membership that every control plane watching the same etcd shares, so they all decide a
 * node's loss on the same event. A failed poll therefore only renews the node's last report.
 */
export class EtcdNodes implements NodeSource {
  private readonly nodes = new Map<string, Discovered>();
  private watch: MetadataWatch | null = null;
  private providerWatch: MetadataWatch | null = null;
  private closed = false;

  constructor(
    private readonly controlPlane: EtcdSink,
    private readonly metadata: EtcdMetadata,
    private readonly options: EtcdNodesOptions,
  ) {}

  /** Lists the nodes in etcd, registers them and watches for changes. */
  async start(): Promise<void> {
    const { logger } = this.options;
    this.watch = await this.metadata.watchNodes({
      onPut: (record) => this.put(record),
      onDelete: (nodeId) => this.deleted(nodeId),
      onInvalid: (key, error) =>
        logger.warn({ key, error: error.message }, "ignoring an invalid record in etcd"),
      onDisconnected: (error) =>
        logger.warn({ error: error.message }, "lost etcd; nodes stay as they are until it answers again"),
      onReconnected: () => logger.info("watching etcd again"),
    });
    // Provider processes registered in etcd are offered to nodes while their lease lives.
    this.providerWatch = await this.metadata.watchProviders({
      onPut: (record) => {
        const provider = pb.liveProviderFromMetadata(record, Date.now());
        if (provider !== null) this.controlPlane.registerProvider(provider, { leased: true });
      },
      onDelete: (providerId) => this.controlPlane.removeProvider(providerId),
      onInvalid: (key, error) =>
        logger.warn({ key, error: error.message }, "ignoring an invalid record in etcd"),
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.watch?.close();
    await this.providerWatch?.close();
    for (const entry of this.nodes.values()) entry.poller.stop();
    this.nodes.clear();
    await this.metadata.close();
  }

  private put(record: NodeRecord): void {
    if (this.closed) return;
    const { logger } = this.options;
    try {
      pb.checkProtocolVersion(record.version);
    } catch (error) {
      logger.error({ nodeId: record.nodeId, error: (error as Error).message }, "ignoring a node in etcd");
      return;
    }
    const existing = this.nodes.get(record.nodeId);
    if (record.leaving === true) {
      // The node has stopped its instances and is about to revoke its lease.
      if (existing !== undefined) existing.record = record;
      logger.info({ nodeId: record.nodeId }, "node is leaving");
      return;
    }
    if (existing !== undefined && existing.record.address === record.address) {
      existing.inEtcd = true;
      const changed = JSON.stringify(existing.record) !== JSON.stringify(record);
      existing.record = record;
      if (changed) existing.poller.register(toNode(record));
      logger.debug({ nodeId: record.nodeId }, "node's etcd record written again");
      return;
    }
    if (existing !== undefined) this.remove(existing);
    const entry: Discovered = {
      nodeId: record.nodeId,
      record,
      inEtcd: true,
      departing: false,
      poller: new NodePoller(this.controlPlane, {
        address: record.address,
        intervalMs: this.options.intervalMs,
        logger,
        tls: this.options.tls,
        peerNodeId: record.nodeId,
        metrics: this.options.metrics,
        known: toNode(record),
        onUnanswered: () => this.unanswered(entry),
        beforeReport: (nodeId, instances) => this.settleConflicts(nodeId, instances),
      }),
    };
    this.nodes.set(record.nodeId, entry);
    entry.poller.start();
    logger.info(
      { nodeId: record.nodeId, address: record.address, labels: record.labels },
      "node found in etcd",
    );
  }

  private deleted(nodeId: string): void {
    const entry = this.nodes.get(nodeId);
    if (entry === undefined) return;
    entry.inEtcd = false;
    this.background(this.departed(entry), nodeId);
  }

  private unanswered(entry: Discovered): void {
    if (entry.inEtcd) {
      this.background(this.renew(entry.nodeId), entry.nodeId);
    } else if (!entry.departing) {
      this.background(this.decide(entry, false), entry.nodeId);
    }
  }

  /** Reactions run beside the watch and the polls; a failure is logged, never left unhandled. */
  private background(work: Promise<void>, nodeId: string): void {
    work.catch((error: unknown) =>
      this.options.logger.error(
        { nodeId, error: (error as Error).message },
        "reacting to a node's etcd record failed",
      ),
    );
  }

  /** A node in etcd that did not answer: its last report stands, so heartbeat liveness keeps out. */
  private async renew(nodeId: string): Promise<void> {
    const { instances } = await this.controlPlane.listInstances({ nodeId, status: "" });
    this.controlPlane.reportStatus(nodeId, instances);
  }

  /** The key is gone: one last poll tells a node that left on purpose from one that died. */
  private async departed(entry: Discovered): Promise<void> {
    if (entry.departing) return;
    entry.departing = true;
    try {
      const answered = await entry.poller.poll();
      await this.decide(entry, answered);
    } finally {
      entry.departing = false;
    }
  }

  private async decide(entry: Discovered, answered: boolean): Promise<void> {
    const { logger } = this.options;
    if (this.closed || entry.inEtcd || this.nodes.get(entry.nodeId) !== entry) return;
    const { instances } = await this.controlPlane.listInstances({ nodeId: entry.nodeId, status: "" });
    // A node that marked itself leaving has stopped its instances, whatever the last poll saw.
    const active = entry.record.leaving === true ? 0 : instances.filter((i) => !isEnded(i.status)).length;
    if (answered && active > 0) {
      logger.warn(
        { nodeId: entry.nodeId, instances: active },
        "node's etcd key is gone but it answers and runs instances; keeping it until it registers again or stops answering",
      );
      return;
    }
    this.remove(entry);
    if (active === 0) {
      this.controlPlane.deregisterNode(entry.nodeId);
      logger.info({ nodeId: entry.nodeId }, "node left: its etcd key went after its instances had stopped");
      return;
    }
    // Every control plane watching this etcd reacts to the same expiry. Reading the other nodes
    // afresh first means they all place the moved instances over the same loads, so they choose
    // the same node, and the second start of each instance is refused there (ALREADY_EXISTS).
    await Promise.all([...this.nodes.values()].filter((e) => e.inEtcd).map((e) => e.poller.poll()));
    logger.warn({ nodeId: entry.nodeId, instances: active }, "node lost: its etcd lease expired");
    await this.controlPlane.nodeLost(entry.nodeId);
  }

  /**
   * Settles instances a node reports that this control plane places, still active, on another
   * etcd node, before the report is applied (ControlPlane would stop the reported copy as a
   * duplicate, which is right for one control plane but not for several):
   *
   * - the other node has lost its key or does not answer: another control plane has already
   *   reacted to its loss and moved the instance here. It is held back until this control plane
   *   has processed the loss too, or it would stop the moved copy.
   * - both nodes answer and run it (two control planes placed one lost instance differently):
   *   every control plane keeps the copy on the node with the smaller id and stops the other, so
   *   they agree on which copy survives instead of each stopping the copy it did not start.
   * - the reported copy has ended while the instance runs elsewhere: left out.
   */
  private async settleConflicts(nodeId: string, instances: pb.Instance[]): Promise<pb.Instance[]> {
    const { instances: here } = await this.controlPlane.listInstances({ nodeId, status: "" });
    const known = new Set(here.map((i) => i.instanceId));
    // In the steady state a node reports what the control plane already places there: no work.
    const news = instances.filter((i) => !known.has(i.instanceId));
    if (news.length === 0) return instances;
    const placed = new Map<string, string>();
    for (const i of (await this.controlPlane.listInstances({ nodeId: "", status: "" })).instances) {
      if (i.nodeId !== nodeId && !isEnded(i.status)) placed.set(i.instanceId, i.nodeId);
    }
    const { logger } = this.options;
    const held = new Set<string>();
    const answered = new Map<Discovered, boolean>();
    const stillThere = async (other: Discovered) => {
      let answer = answered.get(other);
      if (answer === undefined) {
        answer = other.inEtcd && (await other.poller.answers());
        answered.set(other, answer);
      }
      return answer;
    };
    for (const { instanceId, status } of news) {
      const elsewhere = placed.get(instanceId);
      if (elsewhere === undefined) continue;
      if (isEnded(status)) {
        // A stopped copy of an instance that runs elsewhere (a duplicate stopped below): not news,
        // and applying it would overwrite the running instance's status until the next poll.
        held.add(instanceId);
        continue;
      }
      const other = this.nodes.get(elsewhere);
      if (other === undefined) continue;
      if (!(await stillThere(other))) {
        held.add(instanceId);
        logger.info(
          { instanceId, nodeId, from: other.nodeId },
          "instance moved here by another control plane; waiting for the loss of its old node",
        );
        if (!other.inEtcd) this.background(this.departed(other), other.nodeId);
      } else if (nodeId < other.nodeId) {
        held.add(instanceId);
        logger.warn(
          { instanceId, kept: nodeId, stopped: other.nodeId },
          "instance runs on two nodes; stopping one",
        );
        await other.poller.api
          .stopInstance({ instanceId, deadlineMs: 0 })
          .catch((error: unknown) =>
            logger.warn(
              { instanceId, nodeId: other.nodeId, error: (error as Error).message },
              "could not stop a duplicate",
            ),
          );
      } else {
        // The control plane stops this node's copy, as the other control planes do.
        logger.warn(
          { instanceId, kept: other.nodeId, stopped: nodeId },
          "instance runs on two nodes; stopping one",
        );
      }
    }
    return held.size === 0 ? instances : instances.filter((i) => !held.has(i.instanceId));
  }

  private remove(entry: Discovered): void {
    entry.poller.stop();
    if (this.nodes.get(entry.nodeId) === entry) this.nodes.delete(entry.nodeId);
  }
}

function toNode(record: NodeRecord): pb.Node {
  return pb.Node.fromPartial({
    nodeId: record.nodeId,
    address: record.address,
    labels: { ...record.labels },
    capabilities: [...record.capabilities],
    version: record.version,
    maxInstances: record.maxInstances ?? 0,
    status: "alive",
  });
}

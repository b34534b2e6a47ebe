import { type DistributiveOmit, ErrorCode, type FactInput, WasmatrixError } from "@wasmatrix/core";
import type { Logger } from "@wasmatrix/core/logger";
import * as pb from "@wasmatrix/proto";
import { planFailover, refusalText, restartsElsewhere } from "./failover.js";
import type { Launcher } from "./launcher.js";
import type { NodeApi, NodeTable } from "./node-table.js";

/** A fact the control plane records under its own name. */
export type OwnFact = DistributiveOmit<FactInput, "source">;

export interface MembershipOptions {
  heartbeatIntervalMs: number;
  /** Silence after which a node is lost. */
  lossAfterMs: number;
  logger: Logger;
  record(fact: OwnFact): void;
}

/**
 * Acts on what node sources say: applies it to the node table, records the facts of nodes
 * joining and getting lost, stops copies of instances that moved, loses silent nodes, and starts
 * lost instances again where failover plans them (or keeps them `pending` until it can).
 */
export class Membership {
  /** Instances being started again right now: a second report must not start them twice. */
  private readonly restarting = new Set<string>();
  private livenessTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly nodes: NodeTable,
    private readonly launcher: Launcher,
    private readonly options: MembershipOptions,
  ) {}

  /** Starts watching heartbeats: a node silent for the loss interval becomes lost. */
  startLivenessChecks(): void {
    if (this.livenessTimer !== null) return;
    const every = Math.max(10, Math.floor(this.options.heartbeatIntervalMs / 4));
    this.livenessTimer = setInterval(() => void this.checkLiveness(), every);
    this.livenessTimer.unref();
  }

  close(): void {
    if (this.livenessTimer !== null) clearInterval(this.livenessTimer);
    this.livenessTimer = null;
    this.nodes.close();
  }

  /** Marks every node whose last heartbeat is too old as lost; returns the ids it marked. */
  async checkLiveness(): Promise<string[]> {
    const lost = this.nodes.silent(this.options.lossAfterMs);
    for (const nodeId of lost) await this.nodeLost(nodeId);
    return lost;
  }

  /** True when the node is new to the table (or came back): what gets a fact and an audit entry. */
  registerNode(node: pb.Node, api: NodeApi, options: { local?: boolean } = {}): boolean {
    if (!this.nodes.register(node, api, options)) return false;
    this.options.record({
      kind: "node.registered",
      nodeId: node.nodeId,
      data: { labels: node.labels, address: node.address },
    });
    return true;
  }

  reportStatus(nodeId: string, instances: pb.Instance[], options: { partial?: boolean } = {}): boolean {
    const outcome = this.nodes.report(nodeId, instances, options);
    if (!outcome.known) return false;
    const entry = this.nodes.alive(nodeId);
    if (outcome.returned) {
      this.options.record({ kind: "node.registered", nodeId, data: { address: entry.node.address } });
    }
    for (const { instanceId, runningOn } of outcome.moved) {
      this.options.logger.warn({ instanceId, nodeId, runningOn }, "stopping a moved instance");
      void entry.api.stopInstance({ instanceId, deadlineMs: 0 }).catch(() => undefined);
    }
    // A whole report comes first after a node (re)registers, and every few heartbeats: then a
    // waiting instance may have somewhere to go. Its own node coming back brings it back as it
    // reports it, so those are looked at only after the report is in the table.
    if (!options.partial) {
      const waiting = this.nodes.waitingInstances();
      if (waiting.length > 0) void this.failover(waiting);
    }
    return true;
  }

  deregisterNode(nodeId: string): boolean {
    if (!this.nodes.deregister(nodeId)) return false;
    this.options.logger.info({ nodeId }, "node deregistered");
    return true;
  }

  /**
   * A node stopped reporting. Its instances are recorded as lost, and those whose policy restarts
   * them are started on another eligible node: a reaction to the fact, not a reconciliation loop.
   */
  async nodeLost(nodeId: string): Promise<void> {
    const lost = this.nodes.lose(nodeId);
    if (lost === null) return;
    this.options.record({ kind: "node.lost", nodeId, data: { lastHeartbeatAt: lost.node.lastHeartbeatMs } });
    for (const { instanceId } of lost.instances) {
      this.options.record({ kind: "instance.lost", instanceId, nodeId, data: { reason: "node_lost" } });
    }
    await this.failover(lost.instances.filter(restartsElsewhere));
  }

  /**
   * Starts lost instances again where failover places them. One no node can take waits as
   * `pending`, with an `instance.pending` fact saying why, until a whole report gives it
   * somewhere to go.
   */
  private async failover(instances: pb.Instance[]): Promise<void> {
    const adrift = instances.filter(
      (i) => !this.restarting.has(i.instanceId) && this.nodes.isAdrift(i.instanceId),
    );
    for (const i of instances) if (!this.nodes.isAdrift(i.instanceId)) this.nodes.unwait(i.instanceId);
    const plan = planFailover(adrift, this.nodes.candidates());
    for (const { instance, error } of plan.refused) this.giveUp(instance, error);
    for (const { instance, detail } of plan.pending) this.pend(instance, detail);
    await Promise.all(plan.starts.map(({ instance, nodeId }) => this.restart(instance, nodeId)));
  }

  private async restart(instance: pb.Instance, nodeId: string): Promise<void> {
    if (this.restarting.has(instance.instanceId)) return;
    this.restarting.add(instance.instanceId);
    try {
      await this.launcher.launch(pb.startRequestFor(instance), nodeId);
      this.nodes.unwait(instance.instanceId);
    } catch (error) {
      const wrapped = WasmatrixError.from(error);
      if (wrapped.code === ErrorCode.NODE_UNAVAILABLE) this.pend(instance, refusalText(wrapped));
      else this.giveUp(instance, wrapped);
    } finally {
      this.restarting.delete(instance.instanceId);
    }
  }

  private pend(instance: pb.Instance, detail: string): void {
    if (!this.nodes.wait(instance, detail)) return;
    this.options.record({
      kind: "instance.pending",
      instanceId: instance.instanceId,
      data: { reason: "no_eligible_node", detail },
    });
  }

  private giveUp(instance: pb.Instance, error: WasmatrixError): void {
    this.nodes.unwait(instance.instanceId);
    this.options.logger.error(
      { instanceId: instance.instanceId, error: error.message },
      "could not start a lost instance elsewhere",
    );
  }
}

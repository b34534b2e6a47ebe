import { ErrorCode, isEnded, NodeId, WasmatrixError } from "@wasmatrix/core";
import type * as pb from "@wasmatrix/proto";
import { InstanceTable } from "./instance-table.js";
import { Placement, type PlacementCandidate } from "./placement.js";

/** The way to reach a node; `close` ends the connection when the node goes. */
export type NodeApi = pb.NodeAgentApi & { close?(): void };

export interface NodeEntry {
  node: pb.Node;
  api: NodeApi;
  /** The node runs in the control plane's own process: it cannot fall silent without it. */
  local: boolean;
}

export interface ReportOutcome {
  /** False for a node to register again and send its whole table (see NodeTable.report). */
  known: boolean;
  /** The node was lost and is back: a registration as far as facts go. */
  returned: boolean;
  /** Live copies the node reported of instances that run on another node: to be stopped there. */
  moved: { instanceId: string; runningOn: string }[];
}

/** A lost instance no node could take, kept as it was so it can be started the same way. */
interface Waiting {
  instance: pb.Instance;
  detail: string;
}

/**
 * What the control plane knows of nodes and their instances: registrations, heartbeats, each
 * node's last report, and the lost instances waiting as `pending` for somewhere to go. Placement's
 * view of the nodes is kept in step with every change. It decides nothing and records no facts:
 * it returns what changed for the control plane to act on.
 */
export class NodeTable {
  private readonly nodes = new Map<string, NodeEntry>();
  readonly placement = new Placement();
  readonly instances = new InstanceTable((nodeId, active) => {
    const entry = this.nodes.get(nodeId);
    if (entry !== undefined) entry.node.instances = active;
    this.placement.setInstances(nodeId, active);
  });
  private readonly waiting = new Map<string, Waiting>();

  constructor(private readonly now: () => number) {}

  get size(): number {
    return this.nodes.size;
  }

  /** Adds (or re-adds) a node; true when it was unknown or not alive, i.e. it (re)joins. */
  register(node: pb.Node, api: NodeApi, options: { local?: boolean } = {}): boolean {
    NodeId.parse(node.nodeId);
    const previous = this.nodes.get(node.nodeId);
    if (previous !== undefined && previous.api !== api) previous.api.close?.();
    const instances = this.instances.activeOn(node.nodeId);
    this.nodes.set(node.nodeId, {
      node: { ...node, status: "alive", lastHeartbeatMs: this.now(), instances },
      api,
      local: options.local === true,
    });
    this.placement.set({
      nodeId: node.nodeId,
      labels: node.labels,
      capabilities: node.capabilities,
      alive: true,
      instances,
      maxInstances: node.maxInstances,
    });
    return previous === undefined || previous.node.status !== "alive";
  }

  /**
   * A node's whole instance table: afterwards the view of that node is exactly this report. A
   * `partial` report names only instances that changed; the others stay as last reported.
   * Unknown for a node it does not know, or one it declared lost (whose instances it marked lost)
   * reporting only changes.
   */
  report(nodeId: string, instances: pb.Instance[], options: { partial?: boolean } = {}): ReportOutcome {
    const outcome: ReportOutcome = { known: false, returned: false, moved: [] };
    const entry = this.nodes.get(nodeId);
    if (entry === undefined || (options.partial && entry.node.status !== "alive")) return outcome;
    outcome.known = true;
    entry.node.lastHeartbeatMs = this.now();
    if (entry.node.status !== "alive") {
      entry.node.status = "alive";
      this.placement.setAlive(nodeId, true);
      outcome.returned = true;
    }
    const reported = new Set<string>();
    for (const instance of instances) {
      const known = this.instances.get(instance.instanceId);
      // A pending instance is nowhere: a node reporting it is the one it was just started on.
      if (
        known !== undefined &&
        known.nodeId !== nodeId &&
        !isEnded(known.status) &&
        !this.waiting.has(known.instanceId)
      ) {
        // The instance runs elsewhere now (moved while this node was out of reach, or started
        // again there): this node's copy never replaces it in the table, and if it still runs, it
        // goes.
        if (!isEnded(instance.status)) {
          outcome.moved.push({ instanceId: instance.instanceId, runningOn: known.nodeId });
        }
        continue;
      }
      reported.add(instance.instanceId);
      this.instances.set(instance);
      // Its node is back with it: it waits no more.
      this.waiting.delete(instance.instanceId);
    }
    if (!options.partial) {
      for (const instance of this.instances.onNode(nodeId)) {
        if (!reported.has(instance.instanceId) && !this.waiting.has(instance.instanceId)) {
          this.instances.delete(instance.instanceId);
        }
      }
    }
    return outcome;
  }

  /** A node leaving on purpose: it has stopped its instances, so nothing is lost or moved. */
  deregister(nodeId: string): boolean {
    const entry = this.nodes.get(nodeId);
    if (entry === undefined) return false;
    this.nodes.delete(nodeId);
    this.placement.delete(nodeId);
    entry.api.close?.();
    for (const instance of this.instances.onNode(nodeId)) this.instances.delete(instance.instanceId);
    return true;
  }

  /**
   * Marks a node lost and its live instances lost with it; returns them as they were, or null
   * when the node is unknown or already lost.
   */
  lose(nodeId: string): { node: pb.Node; instances: pb.Instance[] } | null {
    const entry = this.nodes.get(nodeId);
    if (entry === undefined || entry.node.status === "lost") return null;
    entry.node.status = "lost";
    this.placement.setAlive(nodeId, false);
    const lost: pb.Instance[] = [];
    for (const instance of this.instances.onNode(nodeId)) {
      if (isEnded(instance.status)) continue;
      this.instances.set({ ...instance, status: "lost", updatedAtMs: this.now() });
      lost.push(instance);
    }
    return { node: entry.node, instances: lost };
  }

  /** Live nodes whose last heartbeat is older than `limitMs`; a local node is never silent. */
  silent(limitMs: number): string[] {
    const now = this.now();
    const silent: string[] = [];
    for (const { node, local } of this.nodes.values()) {
      if (node.status === "alive" && !local && now - node.lastHeartbeatMs > limitMs) silent.push(node.nodeId);
    }
    return silent;
  }

  /** A node answered that it is full: placement passes over it until its reports say otherwise. */
  markFull(nodeId: string, full: { maxInstances: number; running: number }): void {
    const entry = this.nodes.get(nodeId);
    if (entry !== undefined) entry.node.maxInstances = full.maxInstances;
    this.placement.setMaxInstances(nodeId, full.maxInstances);
    this.placement.setInstances(nodeId, Math.max(full.running, full.maxInstances));
  }

  isAlive(nodeId: string): boolean {
    return this.nodes.get(nodeId)?.node.status === "alive";
  }

  /** The node to send a request to: known and alive, or an error saying which it is not. */
  alive(nodeId: string): NodeEntry {
    const entry = this.nodes.get(nodeId);
    if (entry === undefined) {
      throw new WasmatrixError(ErrorCode.NODE_NOT_FOUND, `no node '${nodeId}'`, { nodeId });
    }
    if (entry.node.status !== "alive") {
      throw new WasmatrixError(ErrorCode.NODE_UNAVAILABLE, `node '${nodeId}' is ${entry.node.status}`, {
        nodeId,
      });
    }
    return entry;
  }

  /** The instance as last reported, or an error saying how to find the right id. */
  instance(instanceId: string): pb.Instance {
    const instance = this.instances.get(instanceId);
    if (instance === undefined) throw instanceNotFound(instanceId);
    return instance;
  }

  /** The node to send a request about an instance to, or an error saying why there is none. */
  nodeOf(instanceId: string): NodeEntry {
    const instance = this.instance(instanceId);
    const waiting = this.waiting.get(instanceId);
    if (waiting !== undefined) {
      throw new WasmatrixError(
        ErrorCode.NODE_UNAVAILABLE,
        `instance '${instanceId}' is pending: its node '${instance.nodeId}' was lost and no node can run it now (${waiting.detail}); it starts by itself as soon as one can`,
        { instanceId, status: "pending", lostNodeId: instance.nodeId },
      );
    }
    return this.alive(instance.nodeId);
  }

  /** Copies of the nodes as they are now. */
  list(): pb.Node[] {
    return [...this.nodes.values()].map((e) => ({ ...e.node }));
  }

  /** The nodes as placement sees them now, for decisions made apart from the table. */
  candidates(): PlacementCandidate[] {
    return this.placement.candidates();
  }

  /** Whether the instance is lost or pending: nothing runs it anywhere. */
  isAdrift(instanceId: string): boolean {
    const status = this.instances.get(instanceId)?.status;
    return status === "lost" || status === "pending";
  }

  /**
   * Keeps a lost instance waiting as `pending`; true the first time, when it starts to wait.
   * Returns false without keeping it when it is no longer adrift (stopped, or back with its node).
   */
  wait(instance: pb.Instance, detail: string): boolean {
    const current = this.instances.get(instance.instanceId);
    if (current === undefined || !this.isAdrift(instance.instanceId)) {
      this.waiting.delete(instance.instanceId);
      return false;
    }
    const first = !this.waiting.has(instance.instanceId);
    this.waiting.set(instance.instanceId, { instance, detail });
    if (current.status !== "pending") {
      this.instances.set({ ...current, status: "pending", updatedAtMs: this.now() });
    }
    return first;
  }

  /** Stops a waiting instance, which nothing runs: only the table changes. Undefined if it does not wait. */
  stopWaiting(instanceId: string): pb.Instance | undefined {
    const instance = this.instances.get(instanceId);
    if (instance === undefined || !this.waiting.delete(instanceId)) return undefined;
    const stopped = { ...instance, status: "stopped", updatedAtMs: this.now() };
    this.instances.set(stopped);
    return stopped;
  }

  /** Ends the wait; true if it was waiting. */
  unwait(instanceId: string): boolean {
    return this.waiting.delete(instanceId);
  }

  /** The waiting instances, as they were when lost. */
  waitingInstances(): pb.Instance[] {
    return [...this.waiting.values()].map((w) => w.instance);
  }

  close(): void {
    for (const entry of this.nodes.values()) entry.api.close?.();
  }
}

/**
 * The one answer for an id the caller may not see: a truly unknown id and another tenant's
 * instance get the same words and details, so no id leaks across tenants.
 */
export function instanceNotFound(instanceId: string): WasmatrixError {
  return new WasmatrixError(
    ErrorCode.INSTANCE_NOT_FOUND,
    `no instance '${instanceId}'; list instances with: wasmatrix ps`,
    { instanceId },
  );
}

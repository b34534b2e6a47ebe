import {
  ErrorCode,
  type Fact,
  type FactInput,
  FactLog,
  formatPermission,
  InstanceId,
  isEnded,
  isProvidedCapabilityKind,
  NodeId,
  PROVIDED_CAPABILITY_KINDS,
  ProviderId,
  WasmatrixError,
  withAssignment,
  withoutAssignment,
} from "@wasmatrix/core";
import { type Logger, silentLogger } from "@wasmatrix/core/logger";
import * as pb from "@wasmatrix/proto";
import { factFromProto, factToProto, PROTOCOL_VERSION } from "@wasmatrix/proto";
import { checkModuleSize, DEFAULT_MAX_MODULE_BYTES, validateModule } from "@wasmatrix/runtime";
import { InstanceTable } from "./instance-table.js";
import { ModuleStore } from "./module-store.js";
import { Placement } from "./placement.js";

export interface ControlPlaneOptions {
  /** "embedded" when it shares its process with a node agent (`wasmatrix up`). */
  mode?: "embedded" | "control-plane";
  /** Facts kept in the window that WatchEvents replays from. Default 100 000. */
  maxFacts?: number;
  /** How often nodes report; a node silent for `lossAfterIntervals` of these is lost. Default 1 s. */
  heartbeatIntervalMs?: number;
  lossAfterIntervals?: number;
  /** Module bytes kept to start instances again elsewhere after a node loss. Default 256 MiB. */
  moduleCacheBytes?: number;
  /** Largest module a start may carry, in bytes. Default 64 MiB (the runtime's default). */
  maxModuleBytes?: number;
  logger?: Logger;
  now?: () => number;
  version?: string;
}

interface NodeEntry {
  node: pb.Node;
  api: pb.NodeAgentApi & { close?(): void };
}

export const DEFAULT_HEARTBEAT_INTERVAL_MS = 1_000;
export const DEFAULT_LOSS_AFTER_INTERVALS = 3;

const SOURCE = "control-plane";

/** Omit over each member of a union, keeping each fact kind tied to its data. */
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** A node's refusal because it holds all it can (see the runtime's capacityExhausted). */
function nodeFull(error: unknown): { maxInstances: number; running: number } | null {
  if (!WasmatrixError.is(error) || error.code !== ErrorCode.RESOURCE_EXHAUSTED) return null;
  const { reason, maxInstances, running } = error.details;
  if (reason !== "capacity" || typeof maxInstances !== "number" || typeof running !== "number") return null;
  return { maxInstances, running };
}

/**
 * The control plane records facts instead of reconciling desired state. What it knows of
 * instances is what nodes last reported; what it knows of nodes is their registrations and
 * heartbeats. Nothing here needs to survive a restart.
 */
export class ControlPlane implements pb.ControlPlaneApi {
  readonly facts: FactLog;
  private readonly nodes = new Map<string, NodeEntry>();
  private readonly placement = new Placement();
  private readonly instances = new InstanceTable((nodeId, active) => {
    const entry = this.nodes.get(nodeId);
    if (entry !== undefined) entry.node.instances = active;
    this.placement.setInstances(nodeId, active);
  });
  /** provider id → the provider process as it last announced itself. */
  private readonly providers = new Map<string, pb.Provider>();
  private readonly leasedProviders = new Set<string>();
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly startedAt: number;
  private readonly modules: ModuleStore;
  /**
   * Lost `always`/`backoff` instances no node could take, by id: listed as `pending` (on the node
   * they were lost with) and started once a node's whole report shows a change of who could run
   * them. The instance as it was is kept to start it the same way.
   */
  private readonly waiting = new Map<string, { instance: pb.Instance; detail: string }>();
  /** Instances being started again right now: a second report must not start them twice. */
  private readonly restarting = new Set<string>();
  readonly heartbeatIntervalMs: number;
  private livenessTimer: NodeJS.Timeout | null = null;

  constructor(private readonly options: ControlPlaneOptions = {}) {
    this.logger = options.logger ?? silentLogger;
    this.now = options.now ?? Date.now;
    this.startedAt = this.now();
    this.facts = new FactLog({ maxFacts: options.maxFacts ?? 100_000, now: this.now });
    this.modules = new ModuleStore(options.moduleCacheBytes ?? 256 * 1024 * 1024, (digest) =>
      this.moduleInUse(digest),
    );
    this.heartbeatIntervalMs = options.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS;
  }

  /** Starts watching heartbeats: a node silent for the loss interval becomes lost. */
  startLivenessChecks(): void {
    if (this.livenessTimer !== null) return;
    const every = Math.max(10, Math.floor(this.heartbeatIntervalMs / 4));
    this.livenessTimer = setInterval(() => void this.checkLiveness(), every);
    this.livenessTimer.unref();
  }

  close(): void {
    if (this.livenessTimer !== null) clearInterval(this.livenessTimer);
    this.livenessTimer = null;
    for (const entry of this.nodes.values()) entry.api.close?.();
  }

  /** Marks every node whose last heartbeat is too old as lost; returns the ids it marked. */
  async checkLiveness(): Promise<string[]> {
    const limit =
      this.heartbeatIntervalMs * (this.options.lossAfterIntervals ?? DEFAULT_LOSS_AFTER_INTERVALS);
    const now = this.now();
    const lost: string[] = [];
    for (const entry of this.nodes.values()) {
      // The embedded node lives in this process: it cannot be silent without the process dying too.
      if (entry.node.status !== "alive" || entry.node.address === "embedded") continue;
      if (now - entry.node.lastHeartbeatMs > limit) lost.push(entry.node.nodeId);
    }
    for (const nodeId of lost) await this.nodeLost(nodeId);
    return lost;
  }

  /** Adds (or re-adds, after a restart of either side) a node and the way to reach it. */
  registerNode(node: pb.Node, api: pb.NodeAgentApi & { close?(): void }): void {
    NodeId.parse(node.nodeId);
    const previous = this.nodes.get(node.nodeId);
    if (previous !== undefined && previous.api !== api) previous.api.close?.();
    const instances = this.instances.activeOn(node.nodeId);
    this.nodes.set(node.nodeId, {
      node: { ...node, status: "alive", lastHeartbeatMs: this.now(), instances },
      api,
    });
    this.placement.set({
      nodeId: node.nodeId,
      labels: node.labels,
      capabilities: node.capabilities,
      alive: true,
      instances,
      maxInstances: node.maxInstances,
    });
    if (previous === undefined || previous.node.status !== "alive") {
      this.record({
        kind: "node.registered",
        nodeId: node.nodeId,
        data: { labels: node.labels, address: node.address },
      });
    }
  }

  /**
   * A node's whole instance table: afterwards the view of that node is exactly this report. A
   * `partial` report names only instances that changed; the others stay as last reported.
   * Returns false for a node to register again and send its whole table: one it does not know,
   * or one it declared lost (whose instances it marked lost), reporting only changes.
   */
  reportStatus(nodeId: string, instances: pb.Instance[], options: { partial?: boolean } = {}): boolean {
    const entry = this.nodes.get(nodeId);
    if (entry === undefined) return false;
    if (options.partial && entry.node.status !== "alive") return false;
    entry.node.lastHeartbeatMs = this.now();
    if (entry.node.status !== "alive") {
      entry.node.status = "alive";
      this.placement.setAlive(nodeId, true);
      this.record({ kind: "node.registered", nodeId, data: { address: entry.node.address } });
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
        // again there): this node's copy never replaces it in the table, and if it still runs,
        // it goes.
        if (!isEnded(instance.status)) {
          this.logger.warn(
            { instanceId: instance.instanceId, nodeId, runningOn: known.nodeId },
            "stopping a moved instance",
          );
          void entry.api
            .stopInstance({ instanceId: instance.instanceId, deadlineMs: 0 })
            .catch(() => undefined);
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
      // A whole report comes first after a node (re)registers, and every few heartbeats: then a
      // waiting instance may have somewhere to go. Its own node coming back brings it back as
      // it reports it, so those are looked at only after the report is in the table.
      if (this.waiting.size > 0) void this.startWaiting();
    }
    return true;
  }

  /**
   * A provider process announcing itself: again on every heartbeat, or once per etcd record
   * (`leased`), whose lease then says whether it lives.
   */
  registerProvider(provider: pb.Provider, options: { leased?: boolean } = {}): void {
    ProviderId.parse(provider.providerId);
    if (provider.address === "" || !isProvidedCapabilityKind(provider.capability)) {
      throw new WasmatrixError(
        ErrorCode.INVALID_REQUEST,
        `a provider registration needs its address and a capability of ${PROVIDED_CAPABILITY_KINDS.join(", ")}`,
        { providerId: provider.providerId, capability: provider.capability },
      );
    }
    const known = this.providers.get(provider.providerId);
    this.providers.set(provider.providerId, { ...provider, status: "alive", lastHeartbeatMs: this.now() });
    if (options.leased) this.leasedProviders.add(provider.providerId);
    else this.leasedProviders.delete(provider.providerId);
    if (known === undefined || known.status !== "alive") {
      this.logger.info({ providerId: provider.providerId, address: provider.address }, "provider registered");
    }
  }

  /** A provider whose etcd record went (its lease expired or was revoked). */
  removeProvider(providerId: string): void {
    this.providers.delete(providerId);
    this.leasedProviders.delete(providerId);
  }

  /** Every provider process known, with its liveness. */
  async listProviders(): Promise<pb.ListProvidersResponse> {
    const limit =
      this.heartbeatIntervalMs * (this.options.lossAfterIntervals ?? DEFAULT_LOSS_AFTER_INTERVALS);
    const now = this.now();
    const providers = [...this.providers.values()].map((p) => ({
      ...p,
      status: this.leasedProviders.has(p.providerId) || now - p.lastHeartbeatMs <= limit ? "alive" : "lost",
    }));
    return { providers };
  }

  /** The live providers, as node agents receive them with every report's answer. */
  async liveProviders(): Promise<pb.Provider[]> {
    return (await this.listProviders()).providers.filter((p) => p.status === "alive");
  }

  /** A node leaving on purpose: it has stopped its instances, so nothing is lost or moved. */
  deregisterNode(nodeId: string): void {
    const entry = this.nodes.get(nodeId);
    if (entry === undefined) return;
    this.nodes.delete(nodeId);
    this.placement.delete(nodeId);
    entry.api.close?.();
    for (const instance of this.instances.onNode(nodeId)) this.instances.delete(instance.instanceId);
    this.logger.info({ nodeId }, "node deregistered");
  }

  /**
   * A node stopped reporting. Its instances are recorded as lost, and those whose policy restarts
   * them are started on another eligible node: a reaction to the fact, not a reconciliation loop.
   */
  async nodeLost(nodeId: string): Promise<void> {
    const entry = this.nodes.get(nodeId);
    if (entry === undefined || entry.node.status === "lost") return;
    entry.node.status = "lost";
    this.placement.setAlive(nodeId, false);
    this.record({ kind: "node.lost", nodeId, data: { lastHeartbeatAt: entry.node.lastHeartbeatMs } });
    const moving: pb.Instance[] = [];
    for (const instance of this.instances.onNode(nodeId)) {
      if (isEnded(instance.status)) continue;
      this.instances.set({ ...instance, status: "lost", updatedAtMs: this.now() });
      this.record({
        kind: "instance.lost",
        instanceId: instance.instanceId,
        nodeId,
        data: { reason: "node_lost" },
      });
      const policy = instance.restartPolicy?.policy?.$case;
      if (policy === "always" || policy === "backoff") moving.push(instance);
    }
    await Promise.all(moving.map((instance) => this.startElsewhere(instance)));
  }

  /**
   * Starts a lost instance again as it was. When no node can take it, it waits as `pending` with
   * an `instance.pending` fact saying why, until a node's report gives it somewhere to go.
   */
  private async startElsewhere(instance: pb.Instance): Promise<void> {
    if (this.restarting.has(instance.instanceId)) return;
    const before = this.instances.get(instance.instanceId);
    // Stopped meanwhile, or back with its own node: nothing to start.
    if (before === undefined || (before.status !== "lost" && before.status !== "pending")) {
      this.waiting.delete(instance.instanceId);
      return;
    }
    this.restarting.add(instance.instanceId);
    try {
      await this.launch(pb.startRequestFor(instance));
      this.waiting.delete(instance.instanceId);
    } catch (error) {
      const wrapped = WasmatrixError.from(error);
      if (wrapped.code !== ErrorCode.NODE_UNAVAILABLE) {
        this.waiting.delete(instance.instanceId);
        this.logger.error(
          { instanceId: instance.instanceId, error: wrapped.message },
          "could not start a lost instance elsewhere",
        );
        return;
      }
      const current = this.instances.get(instance.instanceId);
      // Stopped meanwhile, or back with its own node: nothing to wait for.
      if (current === undefined || (current.status !== "lost" && current.status !== "pending")) {
        this.waiting.delete(instance.instanceId);
        return;
      }
      const first = !this.waiting.has(instance.instanceId);
      const detail = refusalText(wrapped);
      this.waiting.set(instance.instanceId, { instance, detail });
      if (current.status !== "pending") {
        this.instances.set({ ...current, status: "pending", updatedAtMs: this.now() });
      }
      if (first) {
        this.record({
          kind: "instance.pending",
          instanceId: instance.instanceId,
          data: { reason: "no_eligible_node", detail },
        });
      }
    } finally {
      this.restarting.delete(instance.instanceId);
    }
  }

  private async startWaiting(): Promise<void> {
    await Promise.all([...this.waiting.values()].map(({ instance }) => this.startElsewhere(instance)));
  }

  /** One instance changed on a node (the embedded node reports every change at once). */
  reportInstance(instance: pb.Instance): void {
    this.instances.set(instance);
  }

  /** Facts from a node, kept with their source sequence so replays are ignored. */
  recordFacts(facts: Iterable<Fact>): void {
    for (const fact of facts) {
      const { seq: _seq, ...input } = fact;
      this.facts.append(input);
    }
  }

  async startInstance(request: pb.StartInstanceRequest): Promise<pb.Instance> {
    if (request.instanceId === "") {
      request = { ...request, instanceId: InstanceId.generate() };
    } else {
      InstanceId.parse(request.instanceId);
    }
    // Bad assignments are the caller's mistake: say so before placement could blame the nodes.
    for (const assignment of request.assignments) pb.assignmentFromProto(assignment);
    if (request.module.byteLength > 0) {
      // Checked here, before anything keeps the bytes or a node spends a compile on them.
      checkModuleSize(request.module, this.options.maxModuleBytes ?? DEFAULT_MAX_MODULE_BYTES);
      await validateModule(request.module);
    }
    const existing = this.instances.get(request.instanceId);
    if (existing !== undefined && !isEnded(existing.status)) {
      throw new WasmatrixError(
        ErrorCode.ALREADY_EXISTS,
        `instance '${request.instanceId}' already exists and is ${existing.status}; stop it first or pick another id`,
        { instanceId: request.instanceId, status: existing.status },
      );
    }
    return this.launch(request);
  }

  /** Places and starts `request` on a node; the one that ran the instance before is preferred. */
  private async launch(request: pb.StartInstanceRequest): Promise<pb.Instance> {
    if (request.module.byteLength === 0 && request.moduleDigest !== "") {
      // A start by digest (an instance started again, on a node that may never have had it)
      // carries the bytes when they passed through here before.
      const module = this.modules.get(request.moduleDigest);
      if (module !== undefined) request = { ...request, module };
    }
    const existing = this.instances.get(request.instanceId);
    const nodeId =
      existing !== undefined && this.nodes.get(existing.nodeId)?.node.status === "alive"
        ? this.chooseNode(request, existing.nodeId)
        : this.chooseNode(request);
    const instance = await this.startOn(nodeId, request);
    this.reportInstance(instance);
    // Kept once it runs, and pinned while it does (moduleInUse).
    if (request.module.byteLength > 0) this.modules.put(request.module);
    return instance;
  }

  /**
   * Starts on the chosen node; one that answers it is full (its count here lagged behind its own)
   * is marked so and the next eligible node is tried, until placement has none left. Reports
   * arriving meanwhile may make a full node look free again, so the tries are bounded too.
   */
  private async startOn(nodeId: string, request: pb.StartInstanceRequest): Promise<pb.Instance> {
    for (let tries = 1; ; tries++) {
      try {
        return await this.node(nodeId).api.startInstance(request);
      } catch (error) {
        const full = nodeFull(error);
        if (full === null || tries > this.nodes.size) throw error;
        const entry = this.nodes.get(nodeId);
        if (entry !== undefined) entry.node.maxInstances = full.maxInstances;
        this.placement.setMaxInstances(nodeId, full.maxInstances);
        this.placement.setInstances(nodeId, Math.max(full.running, full.maxInstances));
        this.logger.info({ nodeId, ...full }, "node is full; placing the instance elsewhere");
        nodeId = this.chooseNode(request);
      }
    }
  }

  async stopInstance(request: pb.StopInstanceRequest): Promise<pb.Instance> {
    const waiting = this.instances.get(request.instanceId);
    if (waiting !== undefined && this.waiting.delete(request.instanceId)) {
      // Nothing runs anywhere: the stop is only a change of the table, and a fact.
      const stopped = { ...waiting, status: "stopped", updatedAtMs: this.now() };
      this.instances.set(stopped);
      this.record({
        kind: "instance.stopped",
        instanceId: request.instanceId,
        data: { reason: "requested" },
      });
      return stopped;
    }
    const instance = await this.nodeOf(request.instanceId).api.stopInstance(request);
    this.reportInstance(instance);
    return instance;
  }

  async queryInstance(request: pb.QueryInstanceRequest): Promise<pb.QueryInstanceResponse> {
    const instance = this.instance(request.instanceId);
    const limit = request.factLimit > 0 ? request.factLimit : 20;
    const recent = this.facts.query({ instanceId: request.instanceId });
    return { instance, recentFacts: recent.slice(-limit).map(factToProto) };
  }

  async listInstances(request: pb.ListInstancesRequest): Promise<pb.ListInstancesResponse> {
    const instances: pb.Instance[] = [];
    for (const instance of this.instances.values()) {
      if (request.nodeId !== "" && instance.nodeId !== request.nodeId) continue;
      if (request.status !== "" && instance.status !== request.status) continue;
      instances.push(instance);
    }
    instances.sort((a, b) => a.createdAtMs - b.createdAtMs || a.instanceId.localeCompare(b.instanceId));
    return { instances };
  }

  async invoke(request: pb.InvokeRequest): Promise<pb.InvokeResponse> {
    return this.nodeOf(request.instanceId).api.invoke(request);
  }

  async assignCapability(request: pb.AssignCapabilityRequest): Promise<pb.Instance> {
    const assignment = pb.assignmentFromProto(request.assignment);
    const current = this.instance(request.instanceId);
    const instance = await this.nodeOf(request.instanceId).api.setAssignments({
      instanceId: request.instanceId,
      assignments: withAssignment(current.assignments, pb.assignmentToProto(assignment)),
    });
    this.reportInstance(instance);
    this.record({
      kind: "capability.assigned",
      instanceId: request.instanceId,
      nodeId: instance.nodeId,
      data: { ...assignment, permissions: assignment.permissions.map(formatPermission) },
    });
    return instance;
  }

  async revokeCapability(request: pb.RevokeCapabilityRequest): Promise<pb.Instance> {
    const { kept, capability } = withoutAssignment(this.instance(request.instanceId).assignments, request);
    const instance = await this.nodeOf(request.instanceId).api.setAssignments({
      instanceId: request.instanceId,
      assignments: kept,
    });
    this.reportInstance(instance);
    this.record({
      kind: "capability.revoked",
      instanceId: request.instanceId,
      nodeId: instance.nodeId,
      data: { capability, ...(request.binding === "" ? {} : { binding: request.binding }) },
    });
    return instance;
  }

  async listNodes(): Promise<pb.ListNodesResponse> {
    return { nodes: [...this.nodes.values()].map((e) => ({ ...e.node })) };
  }

  async serverInfo(): Promise<pb.ServerInfoResponse> {
    return {
      version: this.options.version ?? "0.1.0",
      protocolVersion: PROTOCOL_VERSION,
      mode: this.options.mode ?? "control-plane",
      startedAtMs: this.startedAt,
    };
  }

  async *watchEvents(request: pb.WatchEventsRequest, signal?: AbortSignal): AsyncIterable<pb.Fact> {
    const kinds = new Set(request.kinds);
    const matches = (fact: Fact) =>
      (request.instanceId === "" || fact.instanceId === request.instanceId) &&
      (kinds.size === 0 || kinds.has(fact.kind));
    if (request.noFollow) {
      for (const fact of this.facts.query({ afterSeq: request.afterSeq }))
        if (matches(fact)) yield factToProto(fact);
      return;
    }
    for await (const fact of this.facts.subscribe({
      afterSeq: request.afterSeq,
      ...(signal === undefined ? {} : { signal }),
    })) {
      if (matches(fact)) yield factToProto(fact);
    }
  }

  streamLogs(request: pb.StreamLogsRequest, signal?: AbortSignal): AsyncIterable<pb.LogLine> {
    return this.nodeOf(request.instanceId).api.streamLogs(request, signal);
  }

  /** Facts received over the wire (node reports) in their protocol form. */
  recordProtoFacts(facts: pb.Fact[]): void {
    this.recordFacts(facts.map(factFromProto));
  }

  /** `previous`, the node that ran the instance before, keeps it: its module is cached there. */
  private chooseNode(request: pb.StartInstanceRequest, previous?: string): string {
    return this.placement.place(
      {
        capabilities: [...new Set(request.assignments.map((a) => a.capability))].filter(
          (c) => c !== "logging",
        ),
        required: request.requiredNodeLabels,
        preferred: request.preferredNodeLabels,
      },
      previous,
    );
  }

  /** Whether an instance runs `digest`, or will be started again from it after its node's loss. */
  private moduleInUse(digest: string): boolean {
    for (const instance of this.instances.values()) {
      if (instance.moduleDigest !== digest) continue;
      if (!isEnded(instance.status)) return true;
      const policy = instance.restartPolicy?.policy?.$case;
      if (instance.status === "lost" && (policy === "always" || policy === "backoff")) return true;
    }
    return false;
  }

  private instance(instanceId: string): pb.Instance {
    const instance = this.instances.get(instanceId);
    if (instance === undefined) {
      throw new WasmatrixError(
        ErrorCode.INSTANCE_NOT_FOUND,
        `no instance '${instanceId}'; list instances with: wasmatrix ps`,
        { instanceId },
      );
    }
    return instance;
  }

  private node(nodeId: string): NodeEntry {
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

  private nodeOf(instanceId: string): NodeEntry {
    const instance = this.instance(instanceId);
    const waiting = this.waiting.get(instanceId);
    if (waiting !== undefined) {
      throw new WasmatrixError(
        ErrorCode.NODE_UNAVAILABLE,
        `instance '${instanceId}' is pending: its node '${instance.nodeId}' was lost and no node can run it now (${waiting.detail}); it starts by itself as soon as one can`,
        { instanceId, status: "pending", lostNodeId: instance.nodeId },
      );
    }
    return this.node(instance.nodeId);
  }

  private record(fact: DistributiveOmit<FactInput, "source">): void {
    this.facts.append({ ...fact, source: SOURCE });
    this.logger.debug({ fact: fact.kind, instanceId: fact.instanceId }, "fact");
  }
}

/** A placement refusal's per-node reasons as one line: `nb: node is lost; nc: label zone=b missing`. */
function refusalText(error: WasmatrixError): string {
  const rejected = error.details["rejected"];
  if (typeof rejected !== "object" || rejected === null || Object.keys(rejected).length === 0) {
    return error.message;
  }
  // By node id: placement lists nodes in the order they registered, which varies run to run.
  return Object.entries(rejected as Record<string, unknown>)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([nodeId, reason]) => `${nodeId}: ${String(reason)}`)
    .join("; ");
}

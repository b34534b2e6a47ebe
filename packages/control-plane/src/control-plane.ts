import {
  ANONYMOUS,
  type Caller,
  countBy,
  DEFAULT_TENANT,
  ErrorCode,
  type Fact,
  FactLog,
  formatPermission,
  formatRouteTarget,
  InstanceId,
  isEnded,
  type Metrics,
  type ModuleDigest,
  noopMetrics,
  tenantOf,
  WasmatrixError,
  withAssignment,
  withoutAssignment,
} from "@wasmatrix/core";
import { type Logger, silentLogger } from "@wasmatrix/core/logger";
import { parseReference, RegistryClient } from "@wasmatrix/oci";
import * as pb from "@wasmatrix/proto";
import { factFromProto, factToProto, PROTOCOL_VERSION } from "@wasmatrix/proto";
import { checkModuleSize, DEFAULT_MAX_MODULE_BYTES, validateModule } from "@wasmatrix/runtime";
import type { Audit } from "./audit-log.js";
import { Launcher } from "./launcher.js";
import { Membership, type OwnFact } from "./membership.js";
import { ModuleStore, moduleInUse } from "./module-store.js";
import type { NodeSink } from "./node-source.js";
import { type NodeApi, NodeTable } from "./node-table.js";
import {
  type ControlPlaneOptions,
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  DEFAULT_LOSS_AFTER_INTERVALS,
  type ModuleRegistry,
} from "./options.js";
import { ProviderTable } from "./provider-table.js";
import { MemoryRouteStore, RouteTable } from "./route-table.js";
import { ModuleSignatures } from "./signatures.js";
import { Triggers } from "./triggers/triggers.js";
import { watchFacts } from "./watch-facts.js";

const SOURCE = "control-plane";
/** Entries a ReadAudit answers with when it names no limit. */
const DEFAULT_AUDIT_LIMIT = 1_000;
/** Codes that say the cluster failed to act, rather than that it refused to. */
const FAILURES = new Set<string>([
  ErrorCode.INTERNAL,
  ErrorCode.NODE_UNAVAILABLE,
  ErrorCode.TIMEOUT,
  ErrorCode.OUTCOME_UNKNOWN,
  ErrorCode.PROVIDER_UNAVAILABLE,
]);

/** A refusal's `reason` (a bad signature's, for one), which says more than the code. */
function reasonOf(error: WasmatrixError): Record<string, unknown> {
  const reason = error.details["reason"];
  return typeof reason === "string" ? { reason } : {};
}

/**
 * The control plane records facts instead of reconciling desired state. It serves the API over
 * three parts: the node table (what nodes last reported), the provider table (what providers
 * announced) and membership (acting on node changes, failover included). Every node source feeds
 * it through the NodeSink methods. Nothing here needs to survive a restart.
 */
export class ControlPlane implements pb.ControlPlaneApi, NodeSink {
  readonly facts: FactLog;
  readonly heartbeatIntervalMs: number;
  /** HTTP routes: the one piece of state not rebuilt from nodes (see RouteStore). */
  readonly routes: RouteTable;
  /**
   * The audit log's hook, for actions served outside this class too (the authorization's refused
   * calls, token create and revoke): `audit.append({ caller, action, target, outcome, details })`
   * resolves once the entry is on disk. Without an audit log it records nothing.
   */
  readonly audit: Audit;
  private readonly nodes: NodeTable;
  private readonly providers: ProviderTable;
  private readonly membership: Membership;
  private readonly launcher: Launcher;
  private readonly signatures: ModuleSignatures;
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly startedAt: number;
  private registry: ModuleRegistry | undefined;
  private readonly metrics: Metrics;
  private readonly unregisterGauges: () => void;
  /** Cron and queue triggers (docs/triggers.md). */
  readonly triggers: Triggers;

  constructor(private readonly options: ControlPlaneOptions = {}) {
    this.logger = options.logger ?? silentLogger;
    this.now = options.now ?? Date.now;
    this.startedAt = this.now();
    this.metrics = options.metrics ?? noopMetrics;
    this.facts = new FactLog({ maxFacts: options.maxFacts ?? 100_000, now: this.now });
    this.heartbeatIntervalMs = options.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS;
    this.audit = options.auditLog ?? { append: async () => undefined };
    const lossAfterMs =
      this.heartbeatIntervalMs * (options.lossAfterIntervals ?? DEFAULT_LOSS_AFTER_INTERVALS);
    const { logger, now } = this;
    this.routes = new RouteTable(options.routeStore ?? new MemoryRouteStore(), now);
    this.nodes = new NodeTable(now);
    this.providers = new ProviderTable({ now, lossAfterMs, logger });
    const modules = new ModuleStore(options.moduleCacheBytes ?? 256 * 1024 * 1024, (digest) =>
      moduleInUse(this.nodes.instances.values(), digest),
    );
    this.signatures = new ModuleSignatures(options.trustedKeys);
    this.launcher = new Launcher(this.nodes, modules, logger, this.signatures);
    this.membership = new Membership(this.nodes, this.launcher, {
      heartbeatIntervalMs: this.heartbeatIntervalMs,
      lossAfterMs,
      logger,
      record: (fact) => this.record(fact),
    });
    // Read at each scrape: nodes and providers by state, every provider's capability at zero too.
    this.unregisterGauges = this.metrics.gauges(() => [
      ...countBy("nodes", "state", this.nodes.list(), (n) => n.status, ["alive", "lost"]),
      ...this.providers.list().map((p) => ({
        name: "providers" as const,
        labels: { capability: p.capability, state: p.status },
        value: 1,
      })),
    ]);
    this.triggers = new Triggers(options.triggers ?? {}, {
      logger,
      instances: () => this.nodes.instances.select({ nodeId: "", status: "" }),
      invoke: (request) => this.invoke(request),
      record: (fact) => this.record(fact),
    });
  }

  /** Reads the routes the store kept (and follows its changes until close); call once before serving. */
  async loadRoutes(): Promise<void> {
    await this.routes.load((name, error) =>
      this.logger.warn({ route: name, err: error }, "stored route skipped: it no longer checks"),
    );
  }

  async addRoute(request: pb.AddRouteRequest): Promise<pb.Route> {
    const { route, message } = await this.routes.add(request.route);
    this.record({
      kind: "route.added",
      data: {
        name: route.name,
        pathPrefix: route.pathPrefix,
        ...(route.host === "" ? {} : { host: route.host }),
        target: formatRouteTarget(route.target),
      },
    });
    return message;
  }

  async removeRoute(request: pb.RemoveRouteRequest): Promise<pb.Route> {
    const { message } = await this.routes.remove(request.name);
    this.record({ kind: "route.removed", data: { name: message.name } });
    return message;
  }

  async listRoutes(): Promise<pb.ListRoutesResponse> {
    return { routes: this.routes.list() };
  }

  /** Starts watching heartbeats: a node silent for the loss interval becomes lost. */
  startLivenessChecks(): void {
    this.membership.startLivenessChecks();
  }

  /** Stops liveness checks, the route watch and triggers; resolves once trigger firings under way have ended. */
  async close(): Promise<void> {
    this.unregisterGauges();
    this.membership.close();
    await this.routes.close();
    return this.triggers.close();
  }

  /** Marks every node whose last heartbeat is too old as lost; returns the ids it marked. */
  checkLiveness(): Promise<string[]> {
    return this.membership.checkLiveness();
  }

  /** Adds (or re-adds, after a restart of either side) a node and the way to reach it. */
  registerNode(node: pb.Node, api: NodeApi, options: { local?: boolean; caller?: Caller } = {}): void {
    if (this.membership.registerNode(node, api, options)) {
      void this.audit
        .append({
          caller: options.caller ?? ANONYMOUS,
          action: "node.register",
          target: node.nodeId,
          outcome: "ok",
          details: { address: node.address, labels: node.labels },
        })
        .catch(() => undefined);
    }
  }

  /** A node's instance table, whole or `partial` (see NodeTable.report); false: register again. */
  reportStatus(nodeId: string, instances: pb.Instance[], options: { partial?: boolean } = {}): boolean {
    // Every report, whole or partial, is what keeps a node alive: each counts as a heartbeat.
    this.metrics.heartbeat("received");
    return this.membership.reportStatus(nodeId, instances, options);
  }

  /** A node leaving on purpose: it has stopped its instances, so nothing is lost or moved. */
  deregisterNode(nodeId: string, caller: Caller = ANONYMOUS): void {
    if (this.membership.deregisterNode(nodeId)) {
      void this.audit
        .append({ caller, action: "node.deregister", target: nodeId, outcome: "ok" })
        .catch(() => undefined);
    }
  }

  /** A node stopped reporting: its instances are lost, and moved as failover plans. */
  nodeLost(nodeId: string): Promise<void> {
    return this.membership.nodeLost(nodeId);
  }

  /** A provider process announcing itself (see ProviderTable). */
  registerProvider(provider: pb.Provider, options: { leased?: boolean } = {}): void {
    this.providers.register(provider, options);
  }

  removeProvider(providerId: string): void {
    this.providers.remove(providerId);
  }

  async listProviders(): Promise<pb.ListProvidersResponse> {
    return { providers: this.providers.list() };
  }

  /** The live providers, as node agents receive them with every report's answer. */
  async liveProviders(): Promise<pb.Provider[]> {
    return this.providers.live();
  }

  /** One instance changed on a node (the embedded node reports every change at once). */
  reportInstance(instance: pb.Instance): void {
    this.nodes.instances.set(instance);
  }

  /** Facts from a node, kept with their source sequence so replays are ignored. */
  recordFacts(facts: Iterable<Fact>): void {
    for (const fact of facts) {
      const { seq: _seq, ...input } = fact;
      this.facts.append(input);
    }
  }

  async startInstance(request: pb.StartInstanceRequest, caller: Caller = ANONYMOUS): Promise<pb.Instance> {
    if (request.instanceId === "") request = { ...request, instanceId: InstanceId.generate() };
    const started = await this.audited(
      caller,
      "instance.start",
      request.instanceId,
      () => this.start(request),
      ({ instance, signedBy }) => ({
        nodeId: instance.nodeId,
        moduleDigest: instance.moduleDigest,
        ...(signedBy === undefined ? {} : { signedBy }),
      }),
    );
    return started.instance;
  }

  private async start(
    request: pb.StartInstanceRequest,
  ): Promise<{ instance: pb.Instance; signedBy?: string }> {
    InstanceId.parse(request.instanceId);
    // Bad assignments are the caller's mistake: say so before placement could blame the nodes.
    for (const assignment of request.assignments) pb.assignmentFromProto(assignment);
    if (request.module.byteLength === 0 && request.moduleRef !== "") {
      request = await this.pullModule(request);
    }
    if (request.module.byteLength > 0) {
      // Checked here, before anything keeps the bytes or a node spends a compile on them.
      checkModuleSize(request.module, this.options.maxModuleBytes ?? DEFAULT_MAX_MODULE_BYTES);
    }
    // Before validation, which compiles when the bytes are broken: unsigned bytes get nothing.
    const admitted = this.signatures.admit(request);
    request = admitted.request;
    if (request.module.byteLength > 0) await validateModule(request.module);
    const existing = this.nodes.instances.get(request.instanceId);
    if (existing !== undefined && !isEnded(existing.status)) {
      throw new WasmatrixError(
        ErrorCode.ALREADY_EXISTS,
        `instance '${request.instanceId}' already exists and is ${existing.status}; stop it first or pick another id`,
        { instanceId: request.instanceId, status: existing.status },
      );
    }
    const instance = await this.launcher.launch(request);
    return admitted.keyId === undefined ? { instance } : { instance, signedBy: admitted.keyId };
  }

  /**
   * The module of an `oci://` start, pulled from its registry and verified by digest (manifest
   * against a pinned digest, layer against the manifest) before anything else sees it. The pinned
   * reference replaces the tag, so a restart elsewhere runs the same bytes whatever the tag
   * points to by then.
   */
  private async pullModule(request: pb.StartInstanceRequest): Promise<pb.StartInstanceRequest> {
    const ref = parseReference(request.moduleRef);
    this.registry ??=
      this.options.registry ??
      new RegistryClient({ maxModuleBytes: this.options.maxModuleBytes ?? DEFAULT_MAX_MODULE_BYTES });
    const pulled = await this.registry.pull(ref);
    this.logger.info(
      { reference: request.moduleRef, pinned: pulled.pinned, moduleDigest: pulled.layerDigest },
      "pulled module",
    );
    return {
      ...request,
      module: pb.toBuffer(pulled.bytes),
      moduleRef: `oci://${pulled.pinned}`,
      // A signature pushed with the artifact travels with it, unless the start brought its own.
      ...(request.moduleSignature === "" && pulled.signature
        ? { moduleSignature: Buffer.from(pulled.signature).toString("utf8") }
        : {}),
    };
  }

  async stopInstance(request: pb.StopInstanceRequest, caller: Caller = ANONYMOUS): Promise<pb.Instance> {
    return this.audited(caller, "instance.stop", request.instanceId, () => this.stop(request));
  }

  private async stop(request: pb.StopInstanceRequest): Promise<pb.Instance> {
    const stopped = this.nodes.stopWaiting(request.instanceId);
    if (stopped !== undefined) {
      // Nothing runs anywhere: the stop is only a change of the table, and a fact.
      this.record({
        kind: "instance.stopped",
        instanceId: request.instanceId,
        data: { reason: "requested" },
      });
      return stopped;
    }
    const instance = await this.nodes.nodeOf(request.instanceId).api.stopInstance(request);
    this.reportInstance(instance);
    return instance;
  }

  async queryInstance(request: pb.QueryInstanceRequest): Promise<pb.QueryInstanceResponse> {
    const instance = this.nodes.instance(request.instanceId);
    const limit = request.factLimit > 0 ? request.factLimit : 20;
    const recent = this.facts.query({ instanceId: request.instanceId });
    return { instance, recentFacts: recent.slice(-limit).map(factToProto) };
  }

  /** The tenant of an instance in the table, or undefined for an id it does not hold. */
  tenantOfInstance(instanceId: string): string | undefined {
    const instance = this.nodes.instances.get(instanceId);
    return instance === undefined ? undefined : tenantOf(instance.tenant);
  }

  async listInstances(request: pb.ListInstancesRequest): Promise<pb.ListInstancesResponse> {
    return { instances: this.nodes.instances.select(request) };
  }

  async invoke(request: pb.InvokeRequest, signal?: AbortSignal): Promise<pb.InvokeResponse> {
    return this.nodes.nodeOf(request.instanceId).api.invoke(request, signal);
  }

  async assignCapability(
    request: pb.AssignCapabilityRequest,
    caller: Caller = ANONYMOUS,
  ): Promise<pb.Instance> {
    return this.audited(
      caller,
      "capability.assign",
      request.instanceId,
      () => this.assign(request),
      () => ({
        assignment: request.assignment,
      }),
    );
  }

  private async assign(request: pb.AssignCapabilityRequest): Promise<pb.Instance> {
    const assignment = pb.assignmentFromProto(request.assignment);
    const current = this.nodes.instance(request.instanceId);
    const instance = await this.nodes.nodeOf(request.instanceId).api.setAssignments({
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

  async revokeCapability(
    request: pb.RevokeCapabilityRequest,
    caller: Caller = ANONYMOUS,
  ): Promise<pb.Instance> {
    return this.audited(
      caller,
      "capability.revoke",
      request.instanceId,
      () => this.revoke(request),
      () => ({
        capability: request.capability,
        ...(request.binding === "" ? {} : { binding: request.binding }),
      }),
    );
  }

  private async revoke(request: pb.RevokeCapabilityRequest): Promise<pb.Instance> {
    const { kept, capability } = withoutAssignment(
      this.nodes.instance(request.instanceId).assignments,
      request,
    );
    const instance = await this.nodes.nodeOf(request.instanceId).api.setAssignments({
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
    return { nodes: this.nodes.list() };
  }

  async serverInfo(): Promise<pb.ServerInfoResponse> {
    return {
      version: this.options.version ?? "0.1.0",
      protocolVersion: PROTOCOL_VERSION,
      mode: this.options.mode ?? "control-plane",
      startedAtMs: this.startedAt,
    };
  }

  addTrigger(request: pb.AddTriggerRequest): Promise<pb.Trigger> {
    return this.triggers.add(request);
  }

  removeTrigger(request: pb.RemoveTriggerRequest): Promise<pb.Trigger> {
    return this.triggers.remove(request);
  }

  listTriggers(): Promise<pb.ListTriggersResponse> {
    return this.triggers.list();
  }

  async readAudit(request: pb.ReadAuditRequest): Promise<pb.ReadAuditResponse> {
    const log = this.options.auditLog;
    if (log === undefined) return { entries: [], head: "", enabled: false };
    const { entries, head } = await log.read({
      tenant: request.tenant,
      sinceMs: request.sinceMs,
      limit: request.limit > 0 ? request.limit : DEFAULT_AUDIT_LIMIT,
    });
    return {
      entries: entries.map((e) => ({
        seq: e.seq,
        atMs: e.at,
        who: e.who,
        action: e.action,
        target: e.target,
        outcome: e.outcome,
        tenant: e.tenant ?? "",
        detailsJson: JSON.stringify(e.details ?? {}),
        prev: e.prev,
        hash: e.hash,
      })),
      head,
      enabled: true,
    };
  }

  watchEvents(request: pb.WatchEventsRequest, signal?: AbortSignal): AsyncIterable<pb.Fact> {
    return watchFacts(this.facts, request, signal);
  }

  streamLogs(request: pb.StreamLogsRequest, signal?: AbortSignal): AsyncIterable<pb.LogLine> {
    return this.nodes.nodeOf(request.instanceId).api.streamLogs(request, signal);
  }

  /** Facts received over the wire (node reports) in their protocol form. */
  recordProtoFacts(facts: pb.Fact[]): void {
    this.recordFacts(facts.map(factFromProto));
  }

  async recordDeployment(request: pb.RecordDeploymentRequest): Promise<pb.Fact> {
    const fact = this.record({
      kind: "app.deployed",
      data: {
        app: request.app,
        version: request.version,
        revision: request.revision,
        ...(request.manifestHash ? { manifestHash: request.manifestHash } : {}),
        // Checked by the fact log, as every fact's data is.
        modules: request.modules as Record<string, ModuleDigest>,
        ...(request.rolledBackFrom ? { rolledBackFrom: request.rolledBackFrom } : {}),
      },
    });
    // Own facts are numbered here, so the log never takes one as a replay.
    return factToProto(fact as Fact);
  }

  /**
   * Runs a control action and records it with its outcome: `ok` (with `details` of the result),
   * or `refused` / `failed` with the error's code. The action's own error wins over the log's.
   */
  private async audited<T>(
    caller: Caller,
    action: string,
    target: string,
    run: () => Promise<T>,
    details: (result: T) => Record<string, unknown> = () => ({}),
  ): Promise<T> {
    // Read after the action too: a start's instance has its tenant only once it exists.
    const entry = () => ({ caller, action, target, tenant: this.tenantOfInstance(target) ?? DEFAULT_TENANT });
    let result: T;
    try {
      result = await run();
    } catch (error) {
      const failure = WasmatrixError.from(error);
      await this.audit
        .append({
          ...entry(),
          outcome: FAILURES.has(failure.code) ? "failed" : "refused",
          details: { code: failure.code, message: failure.message, ...reasonOf(failure) },
        })
        .catch(() => undefined);
      throw error;
    }
    await this.audit.append({ ...entry(), outcome: "ok", details: details(result) });
    return result;
  }

  private record(fact: OwnFact): Fact | null {
    if (fact.kind === "node.lost") this.metrics.nodeLost();
    const recorded = this.facts.append({ ...fact, source: SOURCE });
    this.logger.debug({ fact: fact.kind, instanceId: fact.instanceId }, "fact");
    return recorded;
  }
}

import {
  type CapabilityAssignment,
  countBy,
  DEFAULT_TENANT,
  ErrorCode,
  type Fact,
  FactLog,
  type GaugeReading,
  INSTANCE_STATUSES,
  InstanceId,
  type Metrics,
  ModuleDigest,
  NodeId,
  noopMetrics,
  type RestartPolicy,
  type TrustedKeys,
  verifyModuleSignature,
  WasmatrixError,
  withAssignment,
  withoutAssignment,
} from "@wasmatrix/core";
import { type Logger, silentLogger } from "@wasmatrix/core/logger";
import type * as pb from "@wasmatrix/proto";
import { type CapabilityProvider, HttpProvider, MemoryKeyvalueProvider } from "@wasmatrix/providers";
import {
  capacityExhausted,
  DEFAULT_NODE_OUTPUT_BYTES,
  digestOf,
  type ExtismConfig,
  type FilesystemQuota,
  type InstanceKind,
  type InstanceLimits,
  type InvokeResult,
  OutputBudget,
  Runtime,
  type RuntimeOptions,
  resolveLimits,
} from "@wasmatrix/runtime";
import { type AdmissionLimits, resolveAdmission } from "./admission.js";
import { CapabilityRouter } from "./capability-router.js";
import { DEFAULT_INSTANCE_QUOTA, preopensFor } from "./filesystem.js";
import type { LogFilter, LogLine } from "./logs.js";
import { type FactInput, type InstanceView, ManagedInstance, type Placement } from "./managed-instance.js";
import { RemoteProvider } from "./remote-provider.js";
import { type MessageBus, SubscriptionManager, type SubscriptionSpec } from "./subscriptions.js";

export interface StartSpec {
  /** Generated when absent. */
  instanceId?: string;
  /** The module's bytes, or the digest of a module this node has compiled before. */
  module?: Uint8Array;
  moduleDigest?: string;
  /** The module's detached signature (a `.sig` file's text), checked when the node has trusted keys. */
  signature?: string;
  kind?: InstanceKind;
  args?: string[];
  env?: Record<string, string>;
  limits?: Partial<InstanceLimits>;
  /** Backpressure: invocations running at once and waiting (defaults in admission.ts). */
  admission?: Partial<AdmissionLimits>;
  restartPolicy?: RestartPolicy;
  assignments?: CapabilityAssignment[];
  labels?: Record<string, string>;
  placement?: Placement;
  /** @default DEFAULT_TENANT */
  tenant?: string;
  /** Messaging subjects whose messages are delivered to the instance as invocations. */
  subscriptions?: SubscriptionSpec[];
  /** An Extism plugin's config and var cap. */
  extism?: ExtismConfig;
}

export interface NodeAgentOptions {
  nodeId?: string;
  /**
   * The `source` of this node's facts. Default: the node id. A node that restarts numbers its
   * facts from 1 again, so a daemon names each run apart, or the control plane would take the
   * new facts for replays of old ones.
   */
  factSource?: string;
  runtime?: RuntimeOptions;
  /**
   * Instances this node runs at once (running, starting or waiting to restart); a start past it
   * is refused with RESOURCE_EXHAUSTED. Default: what its runtime holds (`DEFAULT_MAX_INSTANCES`).
   */
  maxInstances?: number;
  /**
   * Where the node keeps instances' files (the filesystem capability). Without it the node does
   * not serve that capability.
   */
  dataDir?: string;
  /** Limits on each instance's files. Default: DEFAULT_INSTANCE_QUOTA. */
  filesystemQuota?: FilesystemQuota;
  /**
   * Public keys whose module signatures this node accepts; with them, a start whose module is
   * unsigned or badly signed is refused (MODULE_SIGNATURE_INVALID) before it is compiled, whoever
   * sent it. Default: none, every module is accepted.
   */
  trustedKeys?: TrustedKeys;
  /** Providers served on this node. Default: in-memory keyvalue and HTTP. */
  providers?: CapabilityProvider[];
  /** Mutual TLS to provider processes: this node's own certificate. */
  tls?: pb.TlsMaterial | undefined;
  logger?: Logger;
  /** Where the node reports its metrics. Default: nowhere (`noopMetrics`). */
  metrics?: Metrics;
  /** Facts kept in the node's window. Default 10 000. */
  maxFacts?: number;
  /** Log lines kept per instance. Default 1 000. */
  logLines?: number;
  /**
   * Bytes of log lines kept across all instances; each instance keeps at most twice its
   * `maxOutputBytes` (stdout and stderr). Default 256 MiB.
   */
  maxLogBytes?: number;
  /** Ended instances (stopped, completed, crashed) kept for inspection. Default 1 000. */
  maxEndedInstances?: number;
  /** How long a graceful stop waits before forcing. Default 5 s. */
  stopDeadlineMs?: number;
  now?: () => number;
  random?: () => number;
}

export type ChangeListener = (view: InstanceView) => void;

const ENDINGS = new Set(["instance.completed", "instance.crashed", "instance.restarts_exhausted"]);

/**
 * Runs and supervises the instances of one node. Every lifecycle step lands in `facts`; the
 * instance table is the node's actual state and is what it reports upstream.
 */
export class NodeAgent {
  readonly nodeId: string;
  readonly facts: FactLog;
  readonly runtime: Runtime;
  readonly providers: ReadonlyMap<string, CapabilityProvider>;
  /** Messaging subscriptions delivered as invocations; null when no messaging provider runs here. */
  readonly subscriptions: SubscriptionManager | null;
  private readonly instances = new Map<string, ManagedInstance>();
  private readonly starting = new Set<string>();
  /** Provider processes this node may route to, by provider id (learned from the control plane). */
  private readonly remote = new Map<string, RemoteProvider>();
  private readonly changeListeners = new Set<ChangeListener>();
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly logBudget: OutputBudget;
  /** Where this node's metrics go (the daemon counts its heartbeats there too). */
  readonly metrics: Metrics;
  private readonly unregisterGauges: () => void;
  private closed = false;

  constructor(private readonly options: NodeAgentOptions = {}) {
    this.nodeId = options.nodeId === undefined ? NodeId.generate() : NodeId.parse(options.nodeId);
    this.logger = options.logger ?? silentLogger;
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.facts = new FactLog({ maxFacts: options.maxFacts ?? 10_000, now: this.now });
    const providers = options.providers ?? [new MemoryKeyvalueProvider(), new HttpProvider()];
    this.providers = new Map(providers.map((p) => [p.capability, p]));
    this.metrics = options.metrics ?? noopMetrics;
    const router = new CapabilityRouter(
      (id) => this.instances.get(id),
      (assignment) => this.providerFor(assignment),
      this.metrics,
    );
    this.runtime = new Runtime({
      ...options.runtime,
      ...(options.maxInstances === undefined ? {} : { maxInstances: options.maxInstances }),
      hostCallRouter: router,
      logger: this.logger,
    });
    this.logBudget = new OutputBudget(options.maxLogBytes ?? DEFAULT_NODE_OUTPUT_BYTES);
    const messaging = this.providers.get("messaging");
    this.subscriptions =
      messaging !== undefined && "subscribeDurable" in messaging
        ? new SubscriptionManager(this, messaging as unknown as MessageBus, { logger: this.logger })
        : null;
    this.unregisterGauges = this.metrics.gauges(() => this.gaugeReadings());
    // Deliveries wait while an instance restarts, rather than spending their retries on it.
    this.onChange((view) => {
      if (view.status === "running") this.subscriptions?.resume(view.instanceId);
      else this.subscriptions?.pause(view.instanceId);
    });
  }

  /** Starts an instance; resolves with its view once it runs (or has already ended). */
  async start(spec: StartSpec): Promise<InstanceView> {
    this.assertOpen();
    const instanceId =
      spec.instanceId === undefined ? InstanceId.generate() : InstanceId.parse(spec.instanceId);
    const existing = this.instances.get(instanceId);
    if (existing?.isActive || this.starting.has(instanceId)) {
      throw new WasmatrixError(
        ErrorCode.ALREADY_EXISTS,
        `instance '${instanceId}' already exists and is ${existing?.status ?? "starting"}; stop it first or pick another id`,
        { instanceId, status: existing?.status ?? "starting" },
      );
    }
    let active = this.activeCount();
    // Starts still compiling hold a place too, until their instance joins the table.
    for (const id of this.starting) if (this.instances.get(id)?.isActive !== true) active++;
    if (active >= this.capacity) throw capacityExhausted(active, this.capacity, `node '${this.nodeId}'`);
    // Compiling takes a while: a second start of the same id meanwhile (two control planes
    // reacting to one node loss) must not pass the check above too.
    this.starting.add(instanceId);
    try {
      return await this.startChecked(instanceId, spec);
    } finally {
      this.starting.delete(instanceId);
    }
  }

  private async startChecked(instanceId: InstanceId, spec: StartSpec): Promise<InstanceView> {
    // Refused up front (no --data-dir), rather than as a crash of the first run.
    preopensFor(this.options.dataDir, spec.tenant ?? DEFAULT_TENANT, instanceId, spec.assignments ?? []);
    this.checkSignature(instanceId, spec);
    const compiled = await this.compile(spec);
    const kind = spec.kind ?? (compiled.kinds.includes("reactor") ? "reactor" : "command");
    if (!compiled.kinds.includes(kind)) {
      throw new WasmatrixError(ErrorCode.INVALID_REQUEST, `module cannot run as a ${kind}`, {
        kind,
        kinds: compiled.kinds,
      });
    }
    const managed = new ManagedInstance(
      {
        instanceId,
        compiled,
        kind,
        args: spec.args ?? [],
        env: spec.env ?? {},
        limits: resolveLimits(spec.limits),
        restartPolicy: spec.restartPolicy ?? { kind: "never" },
        assignments: (spec.assignments ?? []).map((a) => ({ ...a })),
        labels: spec.labels ?? {},
        placement: spec.placement ?? { required: {}, preferred: {} },
        tenant: spec.tenant ?? DEFAULT_TENANT,
        ...(spec.extism === undefined ? {} : { extism: spec.extism }),
        admission: resolveAdmission(spec.admission),
      },
      {
        nodeId: this.nodeId,
        runtime: this.runtime,
        logger: this.logger,
        metrics: this.metrics,
        now: this.now,
        random: this.random,
        record: (fact) => this.record(fact),
        changed: (view) => this.changed(view),
        filesystem: (definition) => ({
          preopens: preopensFor(
            this.options.dataDir,
            definition.tenant,
            definition.instanceId,
            definition.assignments,
          ),
          quota: { ...DEFAULT_INSTANCE_QUOTA, ...this.options.filesystemQuota },
        }),
      },
      { lines: this.options.logLines ?? 1_000, budget: this.logBudget },
    );
    this.instances.get(instanceId)?.logs.release();
    this.instances.set(instanceId, managed);
    this.evictEnded();
    await managed.start();
    try {
      for (const subscription of spec.subscriptions ?? []) await this.subscribe(instanceId, subscription);
    } catch (error) {
      await this.stop(instanceId);
      throw error;
    }
    return managed.view();
  }

  /**
   * The provider processes the control plane lists as alive. Calls for a capability this node
   * does not serve, or assigned to a named provider, go to them.
   */
  setRemoteProviders(providers: readonly pb.Provider[]): void {
    const live = new Map(providers.map((p) => [p.providerId, p]));
    for (const [id, remote] of this.remote) {
      const now = live.get(id);
      if (now === undefined || now.address !== remote.info.address) {
        this.remote.delete(id);
        void remote.close();
      }
    }
    for (const [id, info] of live)
      if (!this.remote.has(id)) {
        this.remote.set(
          id,
          new RemoteProvider(info, this.nodeId, { tls: this.options.tls, metrics: this.metrics }),
        );
      }
  }

  private providerFor(assignment: CapabilityAssignment): CapabilityProvider | undefined {
    if (assignment.provider !== "local") {
      const remote = this.remote.get(assignment.provider);
      return remote?.capability === assignment.capability ? remote : undefined;
    }
    const local = this.providers.get(assignment.capability);
    if (local !== undefined) return local;
    for (const remote of this.remote.values()) if (remote.capability === assignment.capability) return remote;
    return undefined;
  }

  /** Delivers the messages of a subject to the instance as invocations (needs msg:subscribe). */
  async subscribe(instanceId: string, spec: SubscriptionSpec): Promise<void> {
    const managed = this.require(instanceId);
    if (this.subscriptions === null) {
      throw new WasmatrixError(
        ErrorCode.PROVIDER_UNAVAILABLE,
        `node ${this.nodeId} has no messaging provider; start it with --nats <url>`,
        { nodeId: this.nodeId },
      );
    }
    await this.subscriptions.subscribe(instanceId, spec, managed.assignments, managed.tenant);
  }

  async unsubscribe(instanceId: string, subject?: string): Promise<number> {
    return (await this.subscriptions?.unsubscribe(instanceId, subject)) ?? 0;
  }

  async stop(instanceId: string, deadlineMs?: number): Promise<InstanceView> {
    const managed = this.require(instanceId);
    await this.subscriptions?.unsubscribe(instanceId);
    await managed.stop(deadlineMs ?? this.options.stopDeadlineMs ?? 5_000);
    return managed.view();
  }

  get(instanceId: string): InstanceView {
    return this.require(instanceId).view();
  }

  /** Instances this node runs at once; it reports this to the control plane. */
  /** Whether instances here can be given the filesystem capability: the node has a data directory. */
  get servesFilesystem(): boolean {
    return this.options.dataDir !== undefined;
  }

  get capacity(): number {
    return this.runtime.capacity;
  }

  /** Instances not ended; counted without building their views. */
  activeCount(): number {
    let active = 0;
    for (const managed of this.instances.values()) if (managed.isActive) active++;
    return active;
  }

  list(filter: { status?: string; ids?: ReadonlySet<string> } = {}): InstanceView[] {
    const out: InstanceView[] = [];
    const candidates =
      filter.ids === undefined
        ? this.instances.values()
        : [...filter.ids].flatMap((id) => this.instances.get(id) ?? []);
    for (const managed of candidates) {
      if (filter.status === undefined || filter.status === "" || managed.status === filter.status) {
        out.push(managed.view());
      }
    }
    return out;
  }

  async invoke(
    instanceId: string,
    operation: string,
    payload: Uint8Array,
    signal?: AbortSignal,
  ): Promise<InvokeResult> {
    if (operation.length === 0) {
      throw new WasmatrixError(ErrorCode.INVALID_REQUEST, "operation must not be empty");
    }
    return this.require(instanceId).invoke(operation, payload, signal);
  }

  /** Replaces an instance's assignments; its next capability call sees them. */
  setAssignments(instanceId: string, assignments: CapabilityAssignment[]): InstanceView {
    const managed = this.require(instanceId);
    managed.setAssignments(assignments.map((a) => ({ ...a })));
    this.revalidate(managed);
    return managed.view();
  }

  assign(instanceId: string, assignment: CapabilityAssignment): InstanceView {
    const managed = this.require(instanceId);
    managed.setAssignments(withAssignment(managed.assignments, { ...assignment }));
    this.revalidate(managed);
    this.record({
      kind: "capability.assigned",
      instanceId,
      data: {
        capability: assignment.capability,
        binding: assignment.binding,
        permissions: assignment.permissions,
      },
    });
    return managed.view();
  }

  /** Revokes one binding of a capability, or all of them when `binding` is omitted. */
  revoke(instanceId: string, capability: string, binding?: string): InstanceView {
    const managed = this.require(instanceId);
    const { kept, capability: revoked } = withoutAssignment(managed.assignments, {
      instanceId,
      capability,
      ...(binding === undefined ? {} : { binding }),
    });
    managed.setAssignments(kept);
    this.revalidate(managed);
    this.record({
      kind: "capability.revoked",
      instanceId,
      data: { capability: revoked, ...(binding === undefined || binding === "" ? {} : { binding }) },
    });
    return managed.view();
  }

  logs(instanceId: string, tail = 0, filter?: LogFilter): LogLine[] {
    return this.require(instanceId).logs.read(tail, filter);
  }

  followLogs(instanceId: string, listener: (line: LogLine) => void): () => void {
    return this.require(instanceId).logs.subscribe(listener);
  }

  /** Resolves when the instance's status satisfies `predicate`, or rejects after `timeoutMs`. */
  async waitFor(
    instanceId: string,
    predicate: (view: InstanceView) => boolean,
    timeoutMs = 10_000,
  ): Promise<InstanceView> {
    const managed = this.require(instanceId);
    const deadline = Date.now() + timeoutMs;
    while (!predicate(managed.view())) {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new WasmatrixError(ErrorCode.TIMEOUT, `instance '${instanceId}' is still ${managed.status}`, {
          instanceId,
          status: managed.status,
        });
      }
      await Promise.race([managed.waitForChange(), new Promise((r) => setTimeout(r, left))]);
    }
    return managed.view();
  }

  onChange(listener: ChangeListener): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  /** Stops every instance (gracefully, within the deadline) and shuts the runtime down. */
  async close(deadlineMs?: number): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unregisterGauges();
    // Durable consumers stay on the server: a node that comes back picks up where it left off.
    await this.subscriptions?.close();
    await Promise.all(
      [...this.instances.values()].map((m) => m.stop(deadlineMs ?? this.options.stopDeadlineMs ?? 5_000)),
    );
    await this.runtime.close();
    await Promise.all([...this.providers.values(), ...this.remote.values()].map((p) => p.close?.()));
  }

  /** What the node's gauges read at each scrape: a pass over the table, nothing on the hot path. */
  private gaugeReadings(): GaugeReading[] {
    let pending = 0;
    let memory = 0;
    for (const managed of this.instances.values()) {
      pending += managed.pending;
      if (managed.status === "running") memory += managed.peakMemoryBytes;
    }
    return [
      ...countBy("instances", "status", this.instances.values(), (m) => m.status, INSTANCE_STATUSES),
      { name: "queue_depth", labels: { queue: "invocations" }, value: pending },
      { name: "queue_depth", labels: { queue: "deliveries" }, value: this.subscriptions?.queued() ?? 0 },
      { name: "guest_memory_bytes", labels: {}, value: memory },
    ];
  }

  /** With trusted keys, the module must come with a valid signature: checked before compiling. */
  private checkSignature(instanceId: InstanceId, spec: StartSpec): void {
    if (this.options.trustedKeys === undefined) return;
    const digest =
      spec.module !== undefined && spec.module.byteLength > 0
        ? digestOf(spec.module)
        : (spec.moduleDigest ?? "");
    try {
      verifyModuleSignature(digest, spec.signature ?? "", this.options.trustedKeys);
    } catch (error) {
      this.logger.warn(
        { instanceId, digest, reason: (error as WasmatrixError).details?.["reason"] },
        "refused a module whose signature does not verify",
      );
      throw error;
    }
  }

  private async compile(spec: StartSpec) {
    if (spec.module !== undefined && spec.module.byteLength > 0) return this.runtime.compile(spec.module);
    if (spec.moduleDigest !== undefined && spec.moduleDigest !== "") {
      const cached = this.runtime.cached(ModuleDigest.parse(spec.moduleDigest));
      if (cached !== undefined) return { ...cached, cached: true };
      throw new WasmatrixError(
        ErrorCode.INVALID_REQUEST,
        `module ${spec.moduleDigest} is not in this node's cache; send the module's bytes`,
        { moduleDigest: spec.moduleDigest },
      );
    }
    throw new WasmatrixError(
      ErrorCode.INVALID_REQUEST,
      "a start request needs the module's bytes or its digest",
    );
  }

  private require(instanceId: string): ManagedInstance {
    const managed = this.instances.get(instanceId);
    if (managed === undefined) {
      throw new WasmatrixError(
        ErrorCode.INSTANCE_NOT_FOUND,
        `no instance '${instanceId}' on node ${this.nodeId}; list instances with: wasmatrix ps`,
        { instanceId, nodeId: this.nodeId },
      );
    }
    return managed;
  }

  /** Subscriptions the new assignments no longer allow end now. */
  private revalidate(managed: ManagedInstance): void {
    void this.subscriptions?.revalidate(managed.id, managed.assignments).catch((error: unknown) => {
      this.logger.warn(
        { instanceId: managed.id, error: (error as Error).message },
        "revalidating subscriptions failed",
      );
    });
  }

  private record(fact: FactInput): Fact | null {
    if (ENDINGS.has(fact.kind) && this.subscriptions !== null) {
      // The restart decision follows the ending fact at once: look after it, not before.
      setImmediate(() => {
        const managed = this.instances.get(fact.instanceId);
        if (managed !== undefined && !managed.isActive) void this.subscriptions?.unsubscribe(fact.instanceId);
      });
    }
    return this.facts.append({
      ...fact,
      source: this.options.factSource ?? this.nodeId,
      nodeId: this.nodeId,
    });
  }

  private changed(view: InstanceView): void {
    for (const listener of this.changeListeners) {
      try {
        listener(view);
      } catch (error) {
        this.logger.error({ error: (error as Error).message }, "instance change listener failed");
      }
    }
  }

  /** Keeps the table bounded: the oldest ended instances go first. */
  private evictEnded(): void {
    const max = this.options.maxEndedInstances ?? 1_000;
    let ended = this.instances.size - this.activeCount();
    for (const [id, m] of this.instances) {
      if (ended <= max) break;
      if (!m.isActive) {
        m.logs.release();
        this.instances.delete(id);
        ended--;
      }
    }
  }

  private assertOpen(): void {
    if (this.closed)
      throw new WasmatrixError(ErrorCode.NODE_UNAVAILABLE, `node ${this.nodeId} is shutting down`);
  }
}

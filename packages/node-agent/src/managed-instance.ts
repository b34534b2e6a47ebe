import {
  type CapabilityAssignment,
  decideRestart,
  ErrorCode,
  type FactDataByKind,
  type FactKind,
  type InstanceStatus,
  type InvocationOutcome,
  isEnded,
  type Metrics,
  type RestartPolicy,
  transition,
  WasmatrixError,
} from "@wasmatrix/core";
import type { Logger } from "@wasmatrix/core/logger";
import type {
  BuiltinRouterContext,
  CompiledModule,
  ExtismConfig,
  FilesystemQuota,
  InstanceKind,
  InstanceLimits,
  InvokeResult,
  Outcome,
  OutputBudget,
  Preopen,
  Runtime,
  RuntimeInstance,
} from "@wasmatrix/runtime";
import { Admission, type AdmissionLimits } from "./admission.js";
import type { CallCounters, RoutingState } from "./capability-router.js";
import { LogBuffer } from "./logs.js";

/** What the agent reports about an instance: the actual state, never an intention. */
export interface InstanceView {
  instanceId: string;
  moduleDigest: string;
  nodeId: string;
  status: InstanceStatus;
  kind: InstanceKind;
  restartPolicy: RestartPolicy;
  assignments: CapabilityAssignment[];
  /** Restarts performed over the instance's life. */
  restarts: number;
  lastOutcome: Outcome | null;
  createdAt: number;
  updatedAt: number;
  labels: Record<string, string>;
  /** The tenant it belongs to ("default" unless started in another). */
  tenant: string;
  limits: InstanceLimits;
  admission: AdmissionLimits;
  args: string[];
  env: Record<string, string>;
  placement: Placement;
  calls: CallCounters;
  extism?: ExtismConfig;
}

/** Label constraints the instance was placed under; kept so it can be placed again the same way. */
export interface Placement {
  required: Record<string, string>;
  preferred: Record<string, string>;
}

/** A fact about one instance, typed by its kind; the agent adds the source and the node. */
export type FactInput<K extends FactKind = FactKind> = K extends FactKind
  ? { readonly kind: K; readonly instanceId: string; readonly data?: FactDataByKind[K] }
  : never;

export interface InstanceContext {
  nodeId: string;
  runtime: Runtime;
  logger: Logger;
  metrics: Metrics;
  now(): number;
  random(): number;
  record(fact: FactInput): void;
  changed(view: InstanceView): void;
  /** The directories and quota the instance's filesystem assignments give it, for each run. */
  filesystem?(definition: InstanceDefinition): { preopens: Preopen[]; quota: FilesystemQuota };
}

export interface InstanceDefinition {
  instanceId: string;
  compiled: CompiledModule;
  kind: InstanceKind;
  args: string[];
  env: Record<string, string>;
  limits: InstanceLimits;
  restartPolicy: RestartPolicy;
  assignments: CapabilityAssignment[];
  labels: Record<string, string>;
  placement: Placement;
  tenant: string;
  extism?: ExtismConfig;
  admission: AdmissionLimits;
}

/**
 * One supervised instance: runs it, classifies how each run ends, asks the core's restart
 * evaluator what to do, and records every step as a fact. Each run gets fresh memory; only the
 * id, the logs and the keyvalue data it wrote outlive a restart.
 */
export class ManagedInstance implements RoutingState {
  status: InstanceStatus = "pending";
  restarts = 0;
  lastOutcome: Outcome | null = null;
  readonly counters: CallCounters = { hostCalls: 0, denied: 0, failed: 0 };
  readonly logs: LogBuffer;
  readonly createdAt: number;
  private updatedAt: number;
  private current: RuntimeInstance | null = null;
  /** Incremented on every run, so callbacks of a previous run can tell they are stale. */
  private generation = 0;
  private attempt = 0;
  private restartsSinceReset = 0;
  private startedAt = 0;
  private timer: NodeJS.Timeout | null = null;
  private inflight = 0;
  /** Largest linear memory of the last invocation or run, for the memory gauge. */
  peakMemoryBytes = 0;
  private idle: (() => void) | null = null;
  private runDone: Promise<void> = Promise.resolve();
  private disposing: Promise<void> = Promise.resolve();
  private readonly statusListeners = new Set<() => void>();
  private readonly admission: Admission;

  constructor(
    readonly definition: InstanceDefinition,
    private readonly context: InstanceContext,
    logs: { lines: number; budget?: OutputBudget },
  ) {
    this.admission = new Admission(definition.instanceId, definition.admission);
    this.createdAt = context.now();
    this.updatedAt = this.createdAt;
    // The output cap bounds what the logs keep too: stdout's and stderr's together.
    this.logs = new LogBuffer(definition.instanceId, {
      ...logs,
      maxBytes: 2 * definition.limits.maxOutputBytes,
      now: context.now,
    });
  }

  get id(): string {
    return this.definition.instanceId;
  }

  get tenant(): string {
    return this.definition.tenant;
  }

  get assignments(): readonly CapabilityAssignment[] {
    return this.definition.assignments;
  }

  /** Ends of the current run or invocation, for capability calls' timeouts. */
  readonly deadline = (): number => {
    const { limits, kind } = this.definition;
    const budget =
      kind === "reactor" ? limits.invokeTimeoutMs : (limits.runTimeoutMs ?? limits.invokeTimeoutMs);
    return this.context.now() + budget;
  };

  get isActive(): boolean {
    return !isEnded(this.status) || this.timer !== null;
  }

  view(): InstanceView {
    const d = this.definition;
    return {
      instanceId: d.instanceId,
      moduleDigest: d.compiled.digest,
      nodeId: this.context.nodeId,
      status: this.status,
      kind: d.kind,
      restartPolicy: d.restartPolicy,
      assignments: d.assignments.map((a) => ({ ...a, permissions: [...a.permissions] })),
      restarts: this.restarts,
      lastOutcome: this.lastOutcome,
      createdAt: this.createdAt,
      updatedAt: this.updatedAt,
      labels: { ...d.labels },
      tenant: d.tenant,
      limits: { ...d.limits },
      admission: { ...d.admission },
      args: [...d.args],
      env: { ...d.env },
      placement: { required: { ...d.placement.required }, preferred: { ...d.placement.preferred } },
      calls: { ...this.counters },
      ...(d.extism === undefined ? {} : { extism: { ...d.extism, config: { ...d.extism.config } } }),
    };
  }

  /** Starts the first run; resolves once it is running or has ended. */
  async start(): Promise<void> {
    await this.launch(true);
  }

  /** Resolves when the status next changes (for waiting in tests and CLIs). */
  waitForChange(): Promise<void> {
    return new Promise((resolve) => {
      const listener = () => {
        this.statusListeners.delete(listener);
        resolve();
      };
      this.statusListeners.add(listener);
    });
  }

  /** Invocations accepted and not yet answered. */
  get pending(): number {
    return this.inflight;
  }

  /**
   * Through the instance's admission gate (backpressure): a full queue refuses at once, and a
   * caller whose `signal` aborts while queued is dropped before its invocation runs.
   */
  invoke(operation: string, payload: Uint8Array, signal?: AbortSignal): Promise<InvokeResult> {
    if (this.status !== "running" || this.current === null) {
      return Promise.reject(notRunning(this.id, this.status));
    }
    return this.admission.run(() => this.invokeNow(operation, payload), signal);
  }

  /** Invocations running and waiting now (`wasmatrix inspect`, tests). */
  get load(): { active: number; queued: number } {
    return { active: this.admission.active, queued: this.admission.queued };
  }

  private async invokeNow(operation: string, payload: Uint8Array): Promise<InvokeResult> {
    const current = this.current;
    if (this.status !== "running" || current === null) {
      this.context.metrics.invocation({ outcome: "refused", seconds: 0, fuel: 0, instanceId: this.id });
      throw notRunning(this.id, this.status);
    }
    const generation = this.generation;
    const began = performance.now();
    this.inflight++;
    try {
      const result = await current.invoke(operation, payload);
      const { metering } = result.outcome;
      this.peakMemoryBytes = metering.peakMemoryBytes;
      this.context.metrics.invocation({
        outcome: invocationOutcome(result),
        seconds: (performance.now() - began) / 1000,
        fuel: metering.fuelUsed,
        instanceId: this.id,
      });
      if (result.outcome.status === "crashed") this.ended(generation, result.outcome);
      return result;
    } finally {
      this.inflight--;
      if (this.inflight === 0) this.idle?.();
    }
  }

  /** Replaces the assignments; the next capability call sees the new ones. */
  setAssignments(assignments: CapabilityAssignment[]): void {
    this.definition.assignments = assignments;
    // Logging is served inside the worker, which learns of the change before the next call.
    void this.current?.setContext(this.routerContext()).catch(() => undefined);
    this.touch();
  }

  private routerContext(): BuiltinRouterContext {
    return { logging: this.definition.assignments.some((a) => a.capability === "logging") };
  }

  /**
   * Stops gracefully: waits up to `deadlineMs` for in-flight invocations (reactors) or the run
   * (commands) to finish, then forces it. A pending restart is cancelled.
   */
  async stop(deadlineMs: number): Promise<void> {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.status === "stopped") return;
    if (this.status === "starting") {
      // Instantiation is under way: the launch sees the new generation and disposes what it made.
      this.generation++;
      this.setStatus("stopped");
      this.context.metrics.lifecycle("stop", "requested", this.id);
      this.context.record({ kind: "instance.stopped", instanceId: this.id, data: { forced: false } });
      return;
    }
    if (this.status === "running") {
      this.setStatus("stopping");
      const finished =
        this.definition.kind === "command"
          ? this.runDone
          : this.inflight === 0
            ? Promise.resolve()
            : new Promise<void>((resolve) => {
                this.idle = resolve;
              });
      let timeout: NodeJS.Timeout | undefined;
      const forced = await Promise.race([
        finished.then(() => false),
        new Promise<boolean>((resolve) => {
          timeout = setTimeout(() => resolve(true), deadlineMs);
        }),
      ]);
      clearTimeout(timeout);
      this.idle = null;
      this.generation++;
      await this.dispose();
      this.logs.flush();
      this.setStatus("stopped");
      this.context.metrics.lifecycle("stop", forced ? "forced" : "requested", this.id);
      this.context.record({ kind: "instance.stopped", instanceId: this.id, data: { forced } });
      return;
    }
    if (this.status === "stopping") {
      await this.waitForChange();
      return;
    }
    // Ended (completed, crashed, lost) or waiting to restart: nothing runs any more.
    this.generation++;
    await this.dispose();
    this.setStatus("stopped");
    this.context.metrics.lifecycle("stop", "requested", this.id);
    this.context.record({ kind: "instance.stopped", instanceId: this.id, data: { forced: false } });
  }

  /** `first`: the start a caller waits for, who is told when the node has no room for it. */
  private async launch(first = false): Promise<void> {
    const generation = ++this.generation;
    const d = this.definition;
    // Lines written from now on belong to this run: the first is 1, each restart adds one.
    this.logs.run = this.restarts + 1;
    this.setStatus("starting");
    // The runtime knows an instance by its id: the previous run must be gone before the next.
    await this.disposing;
    let instance: RuntimeInstance;
    try {
      const filesystem = this.context.filesystem?.(d);
      instance = await this.context.runtime.instantiate(d.compiled, {
        instanceId: d.instanceId,
        kind: d.kind,
        args: d.args,
        env: d.env,
        ...(filesystem === undefined ? {} : { preopens: filesystem.preopens, fsQuota: filesystem.quota }),
        limits: d.limits,
        context: this.routerContext(),
        ...(d.extism === undefined ? {} : { extism: d.extism }),
      });
    } catch (error) {
      if (generation !== this.generation) return;
      // The module was fine when it was compiled, so a failure here is the node's (worker
      // spawn, address space): report it as a crash and let the policy decide.
      const message = (error as Error).message;
      // No room on this node: the caller hears it and places the instance elsewhere. Retrying it
      // here under the restart policy would only knock on the same full runtime again.
      const refused = first && WasmatrixError.is(error) && error.code === ErrorCode.RESOURCE_EXHAUSTED;
      this.ended(
        generation,
        {
          status: "crashed",
          reason: "host_error",
          trap: message,
          metering: { wallTimeMs: 0, fuelUsed: 0, peakMemoryBytes: 0, hostCalls: 0 },
        },
        !refused,
      );
      if (refused) throw error;
      return;
    }
    if (generation !== this.generation) {
      await instance.dispose();
      return;
    }
    this.current = instance;
    instance.onOutput((fd, data, dropped) => this.logs.write(fd === 1 ? "stdout" : "stderr", data, dropped));
    instance.onLost((outcome) => this.ended(generation, outcome));
    this.startedAt = this.context.now();
    if (instance.initOutcome?.status === "crashed") {
      this.setStatus("running");
      this.ended(generation, instance.initOutcome);
      return;
    }
    this.setStatus("running");
    this.context.metrics.lifecycle("start", first ? "requested" : "restart", this.id);
    this.context.record({
      kind: "instance.started",
      instanceId: d.instanceId,
      data: { kind: d.kind, moduleDigest: d.compiled.digest },
    });
    if (d.kind === "command") {
      this.runDone = instance.run().then(
        (outcome) => this.ended(generation, outcome),
        (error: Error) =>
          this.ended(generation, {
            status: "crashed",
            reason: "host_error",
            trap: error.message,
            metering: { wallTimeMs: 0, fuelUsed: 0, peakMemoryBytes: 0, hostCalls: 0 },
          }),
      );
    }
  }

  /** A run ended (or crashed): record it, then let the restart policy decide. */
  private ended(generation: number, outcome: Outcome, mayRestart = true): void {
    if (generation !== this.generation || (this.status !== "running" && this.status !== "starting")) {
      if (this.status === "stopping") this.lastOutcome = outcome;
      return;
    }
    this.generation++;
    this.lastOutcome = outcome;
    this.peakMemoryBytes = outcome.metering.peakMemoryBytes;
    this.logs.flush();
    void this.dispose();
    const at = this.context.now();
    if (outcome.status === "ok") {
      this.setStatus("completed");
      this.context.metrics.lifecycle("stop", "completed", this.id);
      this.context.record({
        kind: "instance.completed",
        instanceId: this.id,
        data: { exitCode: outcome.exitCode, wallTimeMs: outcome.metering.wallTimeMs },
      });
    } else {
      this.setStatus("crashed");
      this.context.metrics.lifecycle("crash", outcome.reason, this.id);
      this.context.record({
        kind: "instance.crashed",
        instanceId: this.id,
        data: {
          reason: outcome.reason,
          trap: outcome.trap,
          ...(outcome.exitCode === undefined ? {} : { exitCode: outcome.exitCode }),
        },
      });
    }
    if (!mayRestart) return;
    const decision = decideRestart(
      this.definition.restartPolicy,
      { attempt: this.attempt, restarts: this.restartsSinceReset, lastStartedAt: this.startedAt },
      { kind: outcome.status === "ok" ? "completed" : "crashed", at },
      this.context.random(),
    );
    if (decision.action === "none") return;
    if (decision.action === "give_up") {
      this.context.record({
        kind: "instance.restarts_exhausted",
        instanceId: this.id,
        data: { restarts: this.restarts },
      });
      return;
    }
    this.attempt = decision.attempt;
    this.restartsSinceReset = decision.restarts;
    this.setStatus("restarting");
    const delayMs = Math.round(decision.delayMs);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.restarts++;
      this.context.metrics.lifecycle(
        "restart",
        outcome.status === "ok" ? "completed" : outcome.reason,
        this.id,
      );
      this.context.record({
        kind: "instance.restarted",
        instanceId: this.id,
        data: { attempt: decision.attempt, delayMs, restarts: this.restarts },
      });
      void this.launch();
    }, delayMs);
  }

  private dispose(): Promise<void> {
    const current = this.current;
    this.current = null;
    if (current !== null) this.disposing = current.dispose().catch(() => undefined);
    return this.disposing;
  }

  private setStatus(to: InstanceStatus): void {
    if (this.status === to) return;
    this.status = transition(this.status, to);
    this.touch();
  }

  private touch(): void {
    this.updatedAt = this.context.now();
    this.context.changed(this.view());
    for (const listener of [...this.statusListeners]) listener();
  }
}

function notRunning(instanceId: string, status: InstanceStatus): WasmatrixError {
  return new WasmatrixError(
    ErrorCode.FAILED_PRECONDITION,
    `instance '${instanceId}' is ${status}, not running; see why with: wasmatrix inspect ${instanceId}`,
    { instanceId, status },
  );
}

function invocationOutcome(result: InvokeResult): InvocationOutcome {
  if (result.error !== undefined) return "refused";
  if (result.outcome.status === "crashed") return "crashed";
  return result.guestError === undefined ? "ok" : "guest_error";
}

import { availableParallelism } from "node:os";
import { ErrorCode, type InstanceId, type ModuleDigest, WasmatrixError } from "@wasmatrix/core";
import { type Logger, silentLogger } from "@wasmatrix/core/logger";
import { DEFAULT_CACHE_MAX_BYTES, DEFAULT_CACHE_MAX_ENTRIES, ModuleCache } from "./cache/index.js";
import { capacityExhausted, resolveMaxInstances } from "./capacity.js";
import type { ExtismConfig } from "./guest/extism.js";
import { type InstanceKind, isExtismPlugin } from "./guest/instance.js";
import type { HostCallRouter } from "./host-call.js";
import { instrument, type ModuleInfo } from "./instrument/index.js";
import { checkModuleSize, DEFAULT_MAX_MODULE_BYTES, digestOf, validateModule } from "./intake.js";
import { type InstanceLimits, MAX_MEMORY_BYTES_CEILING, resolveLimits, WASM_PAGE_BYTES } from "./limits.js";
import type { InvokeResult, Outcome } from "./outcome.js";
import { DEFAULT_NODE_OUTPUT_BYTES, OutputBudget, OutputRing } from "./output/index.js";
import type { FilesystemQuota, Preopen } from "./wasi/index.js";
import { type JobInput, WorkerHandle } from "./worker/handle.js";

export const DEFAULT_HOST_CALL_TIMEOUT_MS = 10_000;
/** Spinning this long before parking catches answers from in-process providers without a wake-up. */
export const DEFAULT_SPIN_MICROS = 50;
export const DEFAULT_WATCHDOG_GRACE_MS = 2_000;
/** With `forwardAllOutput`, a worker flushes once this much output is pending. */
const FORWARD_ALL_FLUSH_BYTES = 64 * 1024;

export interface RuntimeOptions {
  /** Worker threads shared by reactor instances. Default: the number of cores, at most 4. */
  workers?: number;
  /**
   * Instances (reactors and commands) loaded at once; a start past it is refused with
   * RESOURCE_EXHAUSTED. Default `DEFAULT_MAX_INSTANCES`, what the process's address space holds.
   */
  maxInstances?: number;
  /** Largest module accepted, in bytes. Default 64 MiB. */
  maxModuleBytes?: number;
  cache?: { maxEntries?: number; maxBytes?: number };
  /** Serves host calls that workers do not serve themselves. */
  hostCallRouter?: HostCallRouter;
  /** Module URL exporting `createWorkerRouter(config)`, loaded in every worker. */
  workerRouter?: { module: string; config?: unknown };
  /** Longest wait for a forwarded host call. Default 10 s. */
  hostCallTimeoutMs?: number;
  spinMicros?: number;
  /** Grace past a job's deadline before its worker is terminated. Default 2 s. */
  watchdogGraceMs?: number;
  /** Ceiling on any instance's memory cap; also the largest host-call payload a worker bridge carries. */
  maxHostCallPayloadBytes?: number;
  /**
   * Bytes of stdout and stderr kept across all instances (each instance's own cap still applies).
   * Default 256 MiB.
   */
  maxOutputBytesTotal?: number;
  /**
   * Every byte a guest writes reaches `onOutput` listeners, for a CLI whose output is its user's
   * terminal. Default false: output is forwarded every 50 ms and at the end of each batch of jobs,
   * each stream's newest `maxOutputBytes` at most, and no more than `maxOutputBytes` (at least
   * 1 MiB) of an instance's output per second; the rest is counted as dropped, so a flooding guest cannot
   * swamp the thread serving every other instance.
   */
  forwardAllOutput?: boolean;
  logger?: Logger;
}

export interface CompiledModule {
  digest: ModuleDigest;
  sizeBytes: number;
  info: ModuleInfo;
  /**
   * What the module can run as: a command exports `_start`, a reactor `__guest_call`; an Extism
   * plugin (`abi: "extism"`) is a reactor whose exports are its operations.
   */
  kinds: InstanceKind[];
  abi: "wapc" | "extism";
  module: WebAssembly.Module;
  /** Whether this came from the cache. */
  cached: boolean;
}

export interface InstanceSpec {
  instanceId: InstanceId | string;
  /** Defaults to reactor when the module exports `__guest_call`, else command. */
  kind?: InstanceKind;
  args?: string[];
  env?: Record<string, string>;
  stdin?: Uint8Array;
  /** Host directories the guest sees through WASI, as fds 3, 4, … in this order. */
  preopens?: Preopen[];
  /** Limits on what the guest may store below its preopens. */
  fsQuota?: FilesystemQuota;
  limits?: Partial<InstanceLimits>;
  /** Opaque data handed to the worker router with every host call (e.g. assignments). */
  context?: unknown;
  /** Run on a worker of its own. Default: commands do (they may run forever), reactors don't. */
  dedicatedWorker?: boolean;
  /** An Extism plugin's config (read by `config_get`) and var cap. */
  extism?: ExtismConfig;
}

/** `dropped`: bytes of this stream lost (over the output cap) just before `data`. */
type OutputListener = (fd: 1 | 2, data: Uint8Array, dropped: number) => void;
type LostListener = (outcome: Outcome) => void;

/**
 * The engine: checks, instruments, compiles and caches modules, and runs instances on worker
 * threads. Reactors share a pool of workers; commands get a worker each.
 */
export class Runtime {
  private readonly cache: ModuleCache<CompiledModule>;
  private readonly pool: WorkerHandle[] = [];
  private readonly dedicated = new Set<WorkerHandle>();
  private readonly instances = new Map<string, RuntimeInstance>();
  private readonly logger: Logger;
  private readonly maxPayload: number;
  /** Instances this runtime holds at most. */
  readonly capacity: number;
  private readonly outputBudget: OutputBudget;
  private closed = false;

  constructor(private readonly options: RuntimeOptions = {}) {
    this.logger = options.logger ?? silentLogger;
    this.cache = new ModuleCache<CompiledModule>({
      maxEntries: options.cache?.maxEntries ?? DEFAULT_CACHE_MAX_ENTRIES,
      maxBytes: options.cache?.maxBytes ?? DEFAULT_CACHE_MAX_BYTES,
    });
    this.maxPayload = options.maxHostCallPayloadBytes ?? 16 * 1024 * 1024;
    this.capacity = resolveMaxInstances(options.maxInstances);
    this.outputBudget = new OutputBudget(options.maxOutputBytesTotal ?? DEFAULT_NODE_OUTPUT_BYTES);
  }

  /** Bytes of output buffers held across all instances, against `maxOutputBytesTotal`. */
  get outputBytes(): number {
    return this.outputBudget.usedBytes;
  }

  get cacheStats() {
    return this.cache.stats;
  }

  /** Every instance currently loaded. */
  list(): RuntimeInstance[] {
    return [...this.instances.values()];
  }

  get(instanceId: string): RuntimeInstance | undefined {
    return this.instances.get(instanceId);
  }

  /** Checks, instruments and compiles module bytes, or returns the cached result for the same bytes. */
  async compile(bytes: Uint8Array): Promise<CompiledModule> {
    checkModuleSize(bytes, this.options.maxModuleBytes ?? DEFAULT_MAX_MODULE_BYTES);
    // A hit means these very bytes passed validation before: only a miss pays for it again.
    const digest = digestOf(bytes);
    const hit = this.cache.get(digest);
    if (hit !== undefined) return { ...hit, cached: true };
    await validateModule(bytes);
    const sizeBytes = bytes.byteLength;
    const { bytes: instrumented, info } = instrument(bytes, {
      maxMemoryPages: MAX_MEMORY_BYTES_CEILING / WASM_PAGE_BYTES,
    });
    const module = await WebAssembly.compile(instrumented);
    const exportNames = new Set(info.exports.filter((e) => e.kind === "func").map((e) => e.name));
    const kinds: InstanceKind[] = [];
    const abi = isExtismPlugin(module) ? "extism" : "wapc";
    if (exportNames.has("_start") && abi === "wapc") kinds.push("command");
    if (exportNames.has("__guest_call") || abi === "extism") kinds.push("reactor");
    if (kinds.length === 0) {
      throw new WasmatrixError(
        ErrorCode.INVALID_MODULE,
        "module exports neither _start (a WASI command) nor __guest_call (a waPC reactor), nor imports extism:host/env (an Extism plugin); wasmatrix cannot run it",
        { reason: "no_entry_point", exports: [...exportNames].slice(0, 20) },
      );
    }
    const compiled: CompiledModule = { digest, sizeBytes, info, kinds, abi, module, cached: false };
    // Compiled code is several times the module's size; the bound is on that estimate.
    this.cache.set(digest, compiled, instrumented.byteLength * 4);
    return compiled;
  }

  /** A cached module by digest, for starts that name a module already compiled. */
  cached(digest: ModuleDigest): CompiledModule | undefined {
    return this.cache.get(digest);
  }

  async instantiate(compiled: CompiledModule, spec: InstanceSpec): Promise<RuntimeInstance> {
    if (this.closed) throw new WasmatrixError(ErrorCode.FAILED_PRECONDITION, "runtime is closed");
    const instanceId = spec.instanceId as string;
    // Checked before any worker sees the start: past its address space a worker would spend
    // seconds in the engine's collections and answer its other instances no sooner.
    if (this.instances.size >= this.capacity) {
      throw capacityExhausted(this.instances.size, this.capacity, "this runtime");
    }
    if (this.instances.has(instanceId)) {
      throw new WasmatrixError(ErrorCode.ALREADY_EXISTS, `instance '${instanceId}' already exists`, {
        instanceId,
      });
    }
    const kind = spec.kind ?? (compiled.kinds.includes("reactor") ? "reactor" : "command");
    if (!compiled.kinds.includes(kind)) {
      throw new WasmatrixError(
        ErrorCode.INVALID_REQUEST,
        kind === "reactor"
          ? "module exports no __guest_call, so it cannot run as a reactor; run it as a command"
          : "module exports no _start, so it cannot run as a command; run it as a reactor",
        { kind, kinds: compiled.kinds },
      );
    }
    const limits = resolveLimits(spec.limits);
    if (limits.maxHostCallPayloadBytes > this.maxPayload) {
      throw new WasmatrixError(
        ErrorCode.INVALID_REQUEST,
        `maxHostCallPayloadBytes ${limits.maxHostCallPayloadBytes} exceeds this runtime's ceiling of ${this.maxPayload}`,
        { field: "maxHostCallPayloadBytes", max: this.maxPayload },
      );
    }
    const dedicated = spec.dedicatedWorker ?? kind === "command";
    const worker = dedicated ? this.spawn(true) : this.pick();
    const instance = new RuntimeInstance(
      instanceId,
      kind,
      compiled.digest,
      limits,
      worker,
      dedicated,
      this.outputBudget,
      () => {
        this.instances.delete(instanceId);
        if (dedicated) {
          this.dedicated.delete(worker);
          void worker.terminate();
        }
      },
    );
    this.instances.set(instanceId, instance);
    worker.instances.add(instanceId);
    try {
      const initOutcome = await worker.submit<Outcome | null>({
        op: "load",
        instanceId,
        module: compiled.module,
        info: compiled.info,
        kind,
        limits,
        args: spec.args ?? [],
        env: spec.env ?? {},
        ...(spec.stdin === undefined ? {} : { stdin: spec.stdin }),
        ...(spec.extism === undefined ? {} : { extism: spec.extism }),
        ...(spec.preopens === undefined ? {} : { preopens: spec.preopens }),
        ...(spec.fsQuota === undefined ? {} : { fsQuota: spec.fsQuota }),
        context: spec.context,
      });
      instance.initOutcome = initOutcome;
      return instance;
    } catch (error) {
      await instance.dispose().catch(() => undefined);
      throw error;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const workers = [...this.pool, ...this.dedicated];
    this.pool.length = 0;
    this.dedicated.clear();
    this.instances.clear();
    await Promise.all(workers.map((w) => w.terminate()));
  }

  private pick(): WorkerHandle {
    const size = this.options.workers ?? Math.min(4, availableParallelism());
    for (let i = this.pool.length - 1; i >= 0; i--) if (this.pool[i]!.isDead) this.pool.splice(i, 1);
    if (this.pool.length < size) {
      const worker = this.spawn(false);
      this.pool.push(worker);
      return worker;
    }
    return this.pool.reduce((a, b) => (b.load < a.load ? b : a));
  }

  private spawn(dedicated: boolean): WorkerHandle {
    const worker = new WorkerHandle({
      init: {
        spinMicros: this.options.spinMicros ?? DEFAULT_SPIN_MICROS,
        hostCallTimeoutMs: this.options.hostCallTimeoutMs ?? DEFAULT_HOST_CALL_TIMEOUT_MS,
        ...(this.options.forwardAllOutput === true ? { flushOutputBytes: FORWARD_ALL_FLUSH_BYTES } : {}),
        ...(this.options.workerRouter === undefined
          ? {}
          : {
              routerModule: this.options.workerRouter.module,
              routerConfig: this.options.workerRouter.config,
            }),
      },
      maxBridgePayloadBytes: this.maxPayload,
      hostCall: async (instanceId, request) => {
        const router = this.options.hostCallRouter;
        if (router === undefined) {
          throw new WasmatrixError(
            ErrorCode.CAPABILITY_NOT_ASSIGNED,
            `no provider serves capability '${request.namespace}' here`,
            { namespace: request.namespace, binding: request.binding },
          );
        }
        return router.call(instanceId, request);
      },
      onOutput: (instanceId, fd, data, dropped) =>
        this.instances.get(instanceId)?.deliverOutput(fd, data, dropped),
      onLost: (instanceIds, error) => {
        this.logger.error({ instances: instanceIds.length, error: error.message }, "runtime worker lost");
        for (const id of instanceIds) this.instances.get(id)?.markLost(error.message);
      },
      watchdogGraceMs: this.options.watchdogGraceMs ?? DEFAULT_WATCHDOG_GRACE_MS,
      logger: this.logger,
    });
    if (dedicated) this.dedicated.add(worker);
    return worker;
  }
}

/** The main thread's handle on one instance. */
export class RuntimeInstance {
  /** Set when the reactor's initialiser or the start function crashed. */
  initOutcome: Outcome | null = null;
  readonly stdout: OutputRing;
  readonly stderr: OutputRing;
  private readonly outputListeners = new Set<OutputListener>();
  private readonly lostListeners = new Set<LostListener>();
  private lostOutcome: Outcome | null = null;
  private disposed = false;

  constructor(
    readonly id: string,
    readonly kind: InstanceKind,
    readonly digest: ModuleDigest,
    readonly limits: InstanceLimits,
    private readonly worker: WorkerHandle,
    /** Whether the worker is this instance's alone: then disposing may simply end the thread. */
    private readonly ownsWorker: boolean,
    outputBudget: OutputBudget,
    private readonly release: () => void,
  ) {
    this.stdout = new OutputRing(limits.maxOutputBytes, outputBudget);
    this.stderr = new OutputRing(limits.maxOutputBytes, outputBudget);
  }

  /** Runs a command instance to its end. */
  run(): Promise<Outcome> {
    return this.submit<Outcome>({ op: "run", instanceId: this.id }, (outcome) => outcome);
  }

  invoke(operation: string, payload: Uint8Array): Promise<InvokeResult> {
    return this.submit<InvokeResult>(
      { op: "invoke", instanceId: this.id, operation, payload },
      (outcome) => ({
        outcome,
      }),
    );
  }

  /** Replaces the data the worker router sees for this instance; takes effect on the next call. */
  async setContext(context: unknown): Promise<void> {
    await this.worker.submit({ op: "context", instanceId: this.id, context });
  }

  onOutput(listener: OutputListener): () => void {
    this.outputListeners.add(listener);
    return () => this.outputListeners.delete(listener);
  }

  /** Called once if the worker hosting this instance dies (`worker_lost`). */
  onLost(listener: LostListener): () => void {
    this.lostListeners.add(listener);
    return () => this.lostListeners.delete(listener);
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.worker.instances.delete(this.id);
    // A worker of its own is terminated at once, even mid-run (that is how a stop is forced); a
    // shared worker unloads the instance between jobs, so its neighbours never notice.
    // An idle worker of its own unloads first all the same, so the guest's open files are closed
    // by the WASI layer that opened them (quota.test.ts pins that a forced stop closes them too).
    if (!this.worker.isDead && (!this.ownsWorker || this.worker.idle))
      await this.worker.submit({ op: "unload", instanceId: this.id }).catch(() => undefined);
    this.stdout.release();
    this.stderr.release();
    this.release();
  }

  /** @internal */
  deliverOutput(fd: 1 | 2, data: Uint8Array, dropped = 0): void {
    const ring = fd === 1 ? this.stdout : this.stderr;
    ring.countDropped(dropped);
    ring.write(data);
    for (const listener of this.outputListeners) listener(fd, data, dropped);
  }

  /** @internal */
  markLost(message: string): void {
    if (this.lostOutcome !== null) return;
    this.lostOutcome = {
      status: "crashed",
      reason: "worker_lost",
      trap: message,
      metering: { wallTimeMs: 0, fuelUsed: 0, peakMemoryBytes: 0, hostCalls: 0 },
    };
    for (const listener of this.lostListeners) listener(this.lostOutcome);
  }

  /** Submits a job; if the worker is lost meanwhile, answers with the `worker_lost` outcome. */
  private async submit<T>(job: JobInput, whenLost: (outcome: Outcome) => T): Promise<T> {
    if (this.lostOutcome !== null) return whenLost(this.lostOutcome);
    try {
      return await this.worker.submit<T>(job);
    } catch (error) {
      if (this.lostOutcome !== null) return whenLost(this.lostOutcome);
      throw error;
    }
  }
}

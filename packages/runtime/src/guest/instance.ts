import { ErrorCode, WasmatrixError } from "@wasmatrix/core";
import type { ModuleInfo } from "../instrument/index.js";
import { FUEL_GLOBAL_EXPORT, FUEL_IMPORT, GROW_IMPORT, MEMORY_EXPORT } from "../instrument/index.js";
import { type InstanceLimits, memoryCapPages } from "../limits.js";
import type { InvokeResult, Metering, Outcome } from "../outcome.js";
import type { OutputSink } from "../output/index.js";
import { createWasi, type FilesystemQuota, type Preopen, type Wasi, WasiExit } from "../wasi/index.js";
import { classifyError, GuestAbort } from "./classify.js";
import { EXTISM_MODULE, type ExtismConfig, ExtismHost } from "./extism.js";
import { FuelMeter } from "./fuel.js";
import { MemoryGuard } from "./memory-guard.js";
import { type HostCallAnswer, type HostCallRequest, ResponseTooLarge, WapcHost } from "./wapc.js";

export type InstanceKind = "command" | "reactor";

export interface GuestConfig {
  instanceId: string;
  kind: InstanceKind;
  limits: InstanceLimits;
  args: string[];
  env: Record<string, string>;
  stdin?: Uint8Array;
  /** Config and var limits for an Extism plugin; ignored by other guests. */
  extism?: ExtismConfig;
  /** Host directories the guest sees through WASI. */
  preopens?: Preopen[];
  fsQuota?: FilesystemQuota;
}

/** Whether a module is an Extism plugin: it links against Extism's host functions. */
export function isExtismPlugin(module: WebAssembly.Module): boolean {
  return WebAssembly.Module.imports(module).some((entry) => entry.module === EXTISM_MODULE);
}

export interface GuestIo {
  stdout: OutputSink;
  stderr: OutputSink;
  /** Serves a capability call; `remainingMs` is what is left of the caller's deadline. */
  hostCall(request: HostCallRequest, remainingMs: number): HostCallAnswer;
  /** Lines from `__console_log` and the logging capability. */
  log(message: string): void;
}

const decoder = new TextDecoder();

/**
 * The engine could not reserve a memory or table for a new instance (V8 throws a RangeError
 * "could not allocate memory" / "Out of memory: Cannot allocate Wasm memory"). Memory growth
 * inside a guest never gets here: the memory guard turns it into `memory.grow` answering -1. So
 * this is the process at its address-space limit, and only this start fails.
 */
function reservationFailure(error: unknown): WasmatrixError | null {
  if (!(error instanceof RangeError) || !/allocate|out of memory/i.test(error.message)) return null;
  return new WasmatrixError(
    ErrorCode.RESOURCE_EXHAUSTED,
    `the runtime process could not reserve memory for another instance (${error.message}); ` +
      "start it on another node, run more runtime shards, or run fewer instances here",
    { reason: "memory_reservation", limit: "wasm_memories_per_process" },
    { cause: error },
  );
}

/**
 * One instance inside a worker: its imports, limits and meter. Runs synchronously; the worker
 * serialises runs and invocations of all its instances.
 */
export class GuestInstance {
  private readonly fuel = new FuelMeter();
  private readonly memoryGuard: MemoryGuard;
  private readonly wapc: WapcHost;
  /** Set for Extism plugins, which are invoked through their exports instead of __guest_call. */
  private readonly extism: ExtismHost | null;
  private instance!: WebAssembly.Instance;
  private memory: WebAssembly.Memory | null = null;
  private guestCall: ((operationLen: number, payloadLen: number) => number) | null = null;
  private wasi: Wasi | null = null;
  /** After a crash the instance is dead: its memory may be inconsistent. */
  private crashed: Outcome | null = null;

  constructor(
    private readonly module: WebAssembly.Module,
    private readonly info: ModuleInfo,
    readonly config: GuestConfig,
    private readonly io: GuestIo,
  ) {
    this.memoryGuard = new MemoryGuard(memoryCapPages(config.limits));
    this.wapc = new WapcHost({
      getMemory: () => this.requireMemory(),
      hostCall: (request) => {
        this.fuel.checkDeadline();
        return io.hostCall(request, this.fuel.remainingMs());
      },
      consoleLog: (message) => io.log(message),
      maxPayloadBytes: config.limits.maxHostCallPayloadBytes,
    });
    this.extism = isExtismPlugin(module)
      ? new ExtismHost({
          config: config.extism?.config ?? {},
          ...(config.extism?.maxVarBytes === undefined ? {} : { maxVarBytes: config.extism.maxVarBytes }),
          // The kernel's blocks live beside linear memory, under a cap of the same size.
          maxKernelBytes: config.limits.maxMemoryBytes,
          maxPayloadBytes: config.limits.maxHostCallPayloadBytes,
          hostCall: (request) => {
            this.fuel.checkDeadline();
            return io.hostCall(request, this.fuel.remainingMs());
          },
          log: (level, message) => io.log(`[${level}] ${message}`),
        })
      : null;
  }

  /** A trap after a refused growth (of linear memory or of the kernel's) is the memory cap. */
  private get limitHit(): boolean {
    return this.memoryGuard.limitHit || (this.extism?.kernel.limitHit ?? false);
  }

  /**
   * Instantiates the module and, for reactors, runs its initialiser. Returns a crash outcome if
   * the initialiser fails; throws WasmatrixError if the module cannot be linked at all.
   */
  instantiate(): Outcome | null {
    let imports: WebAssembly.Imports;
    try {
      imports = this.buildImports();
    } catch (error) {
      throw reservationFailure(error) ?? error;
    }
    const started = performance.now();
    this.fuel.begin(this.config.limits.fuel, this.config.limits.invokeTimeoutMs);
    try {
      this.instance = new WebAssembly.Instance(this.module, imports);
    } catch (error) {
      // Before the start function runs, the engine reserves the instance's memory and tables: a
      // refusal there is the process out of address space, not the guest's fault.
      const refused = reservationFailure(error);
      if (refused !== null) throw refused;
      if (error instanceof WebAssembly.LinkError) {
        throw new WasmatrixError(ErrorCode.INVALID_MODULE, `module cannot be linked: ${error.message}`, {
          reason: "link",
        });
      }
      // A trap in the module's start function.
      const { reason, trap } = classifyError(error, this.limitHit);
      this.crashed = { status: "crashed", reason, trap, metering: this.metering(started) };
      return this.crashed;
    }
    this.fuel.end();
    const exports = this.instance.exports;
    const fuelGlobal = exports[FUEL_GLOBAL_EXPORT];
    if (!(fuelGlobal instanceof WebAssembly.Global)) {
      throw new WasmatrixError(ErrorCode.INTERNAL, "instrumented module lacks its fuel global");
    }
    this.fuel.bind(fuelGlobal);
    const memory = exports[MEMORY_EXPORT] ?? this.memory;
    if (memory instanceof WebAssembly.Memory) {
      this.memory = memory;
      this.memoryGuard.bind(memory);
    }
    if (typeof exports["__guest_call"] === "function") {
      this.guestCall = exports["__guest_call"] as (a: number, b: number) => number;
    }
    if (this.config.kind === "reactor") {
      // Extism runs only a plugin's `_initialize` (wasi-libc's constructors) before its calls.
      const inits = this.extism === null ? ["_initialize", "wapc_init", "_start"] : ["_initialize"];
      const init = inits.find((name) => typeof exports[name] === "function");
      if (init !== undefined) {
        const outcome = this.execute(exports[init] as () => void, this.config.limits.invokeTimeoutMs);
        if (outcome.status === "crashed") return outcome;
      }
    }
    return null;
  }

  /** Releases the host descriptors of files the guest left open. */
  close(): void {
    this.wasi?.close();
  }

  get isCrashed(): boolean {
    return this.crashed !== null;
  }

  /** Runs a command module's `_start` to its end. */
  run(): Outcome {
    const start = this.instance.exports["_start"];
    if (typeof start !== "function") {
      throw new WasmatrixError(
        ErrorCode.FAILED_PRECONDITION,
        "module has no _start export; it is not a command",
      );
    }
    return this.execute(start as () => void, this.config.limits.runTimeoutMs);
  }

  invoke(operation: string, payload: Uint8Array): InvokeResult {
    if (this.crashed !== null) {
      throw new WasmatrixError(
        ErrorCode.FAILED_PRECONDITION,
        `instance ${this.config.instanceId} has crashed; it must be restarted before it can be invoked`,
        { instanceId: this.config.instanceId },
      );
    }
    if (payload.byteLength > this.config.limits.maxHostCallPayloadBytes) {
      throw new WasmatrixError(
        ErrorCode.RESOURCE_EXHAUSTED,
        `invocation payload of ${payload.byteLength} bytes exceeds the cap of ${this.config.limits.maxHostCallPayloadBytes}`,
        { sizeBytes: payload.byteLength, maxBytes: this.config.limits.maxHostCallPayloadBytes },
      );
    }
    if (this.extism !== null) return this.invokeExtism(this.extism, operation, payload);
    const guestCall = this.guestCall;
    if (guestCall === null) {
      throw new WasmatrixError(
        ErrorCode.FAILED_PRECONDITION,
        "module exports no __guest_call; it is not a waPC reactor and cannot be invoked",
        { instanceId: this.config.instanceId },
      );
    }
    let result: { ok: true; response: Uint8Array } | { ok: false; guestError: string } | undefined;
    const outcome = this.execute(() => {
      result = this.wapc.invoke(guestCall, operation, payload);
    }, this.config.limits.invokeTimeoutMs);
    if (outcome.status === "crashed" || result === undefined) return { outcome };
    return result.ok ? { outcome, response: result.response } : { outcome, guestError: result.guestError };
  }

  /** An Extism call: the operation names an exported function taking nothing, returning an i32. */
  private invokeExtism(host: ExtismHost, operation: string, payload: Uint8Array): InvokeResult {
    const fn = this.instance.exports[operation];
    if (typeof fn !== "function" || RESERVED_EXPORTS.has(operation)) {
      throw new WasmatrixError(
        ErrorCode.INVALID_REQUEST,
        `plugin exports no function '${operation}'; call one of: ${this.pluginFunctions().join(", ") || "(none)"}`,
        { operation, instanceId: this.config.instanceId },
      );
    }
    let result: ReturnType<ExtismHost["invoke"]> | undefined;
    const outcome = this.execute(() => {
      result = host.invoke(fn as () => unknown, payload);
    }, this.config.limits.invokeTimeoutMs);
    if (outcome.status === "crashed" || result === undefined) return { outcome };
    return result.ok ? { outcome, response: result.response } : { outcome, guestError: result.guestError };
  }

  /** The exports an Extism host would let a caller name. */
  private pluginFunctions(): string[] {
    return Object.entries(this.instance.exports)
      .filter(([name, value]) => typeof value === "function" && !RESERVED_EXPORTS.has(name))
      .map(([name]) => name)
      .slice(0, 20);
  }

  private execute(fn: () => void, timeoutMs: number | null): Outcome {
    const started = performance.now();
    this.memoryGuard.begin();
    this.wapc.hostCalls = 0;
    if (this.extism !== null) this.extism.hostCalls = 0;
    this.fuel.begin(this.config.limits.fuel, timeoutMs);
    let outcome: Outcome;
    try {
      fn();
      outcome = { status: "ok", exitCode: 0, metering: this.metering(started) };
    } catch (error) {
      const metering = this.metering(started);
      if (error instanceof WasiExit) {
        outcome =
          error.code === 0
            ? { status: "ok", exitCode: 0, metering }
            : {
                status: "crashed",
                reason: "exit",
                trap: `exit(${error.code})`,
                exitCode: error.code,
                metering,
              };
      } else {
        const { reason, trap } = classifyError(error, this.limitHit);
        outcome = { status: "crashed", reason, trap, metering };
      }
      if (outcome.status === "crashed" || error instanceof ResponseTooLarge) this.crashed = outcome;
    }
    return outcome;
  }

  private metering(started: number): Metering {
    const fuelUsed = this.fuel.end();
    if (this.memory !== null) {
      this.memoryGuard.peakBytes = Math.max(this.memoryGuard.peakBytes, this.memory.buffer.byteLength);
    }
    return {
      wallTimeMs: performance.now() - started,
      fuelUsed,
      peakMemoryBytes: this.memoryGuard.peakBytes,
      hostCalls: this.wapc.hostCalls + (this.extism?.hostCalls ?? 0),
    };
  }

  private requireMemory(): WebAssembly.Memory {
    if (this.memory === null) {
      throw new WasmatrixError(ErrorCode.INVALID_MODULE, "module has no memory, but its ABI calls need one");
    }
    return this.memory;
  }

  private buildImports(): WebAssembly.Imports {
    const { config, io } = this;
    const wasi = createWasi({
      args: config.args,
      env: config.env,
      stdout: io.stdout,
      stderr: io.stderr,
      ...(config.stdin === undefined ? {} : { stdin: config.stdin }),
      ...(config.preopens === undefined ? {} : { preopens: config.preopens }),
      ...(config.fsQuota === undefined ? {} : { quota: config.fsQuota }),
      getMemory: () => this.requireMemory(),
      sleep: (ns: bigint) => this.sleep(ns),
      onYield: () => this.fuel.checkDeadline(),
    });
    this.wasi = wasi;
    const provided: Record<string, Record<string, unknown>> = {
      wasi_snapshot_preview1: wasi.imports,
      wapc: this.wapc.imports,
      ...(this.extism === null ? {} : { [EXTISM_MODULE]: this.extism.imports }),
      [FUEL_IMPORT.module]: {
        [FUEL_IMPORT.name]: this.fuel.onFuel,
        [GROW_IMPORT.name]: this.memoryGuard.onGrow,
      },
      env: {
        abort: (messagePtr: number, filePtr: number, line: number, column: number) => {
          throw new GuestAbort(
            `abort: ${this.readAsString(messagePtr)} at ${this.readAsString(filePtr)}:${line}:${column}`,
          );
        },
      },
    };
    const imports: WebAssembly.Imports = {};
    const missing: string[] = [];
    for (const entry of WebAssembly.Module.imports(this.module)) {
      const namespace = provided[entry.module];
      if (entry.kind === "memory") {
        const minPages = this.info.memory?.minPages ?? 1;
        this.memory = new WebAssembly.Memory({ initial: minPages, maximum: memoryCapPages(config.limits) });
        imports[entry.module] = { ...imports[entry.module], [entry.name]: this.memory };
      } else if (
        namespace !== undefined &&
        entry.kind === "function" &&
        typeof namespace[entry.name] === "function"
      ) {
        imports[entry.module] = {
          ...imports[entry.module],
          [entry.name]: namespace[entry.name] as () => void,
        };
      } else {
        missing.push(`${entry.module}.${entry.name} (${entry.kind})`);
      }
    }
    if (missing.length > 0) {
      throw new WasmatrixError(
        ErrorCode.INVALID_MODULE,
        `module imports what wasmatrix does not provide: ${missing.slice(0, 10).join(", ")}${missing.length > 10 ? ", …" : ""}`,
        { missingImports: missing },
      );
    }
    if (this.info.memory !== null && this.info.memory.minPages > memoryCapPages(config.limits)) {
      throw new WasmatrixError(
        ErrorCode.RESOURCE_EXHAUSTED,
        `module needs at least ${this.info.memory.minPages} pages of memory; this instance's cap is ${memoryCapPages(config.limits)} pages`,
        { minPages: this.info.memory.minPages, maxPages: memoryCapPages(config.limits) },
      );
    }
    return imports;
  }

  private sleep(ns: bigint): void {
    // Never sleep past the deadline: the next fuel check will then trap with `timeout`.
    const ms = Math.max(0, Math.min(Number(ns / 1_000_000n), this.fuel.remainingMs()));
    if (ms > 0) Atomics.wait(sleepCell, 0, 0, ms);
    this.fuel.checkDeadline();
  }

  /** AssemblyScript strings: UTF-16 with the byte length in the 4 bytes before the pointer. */
  private readAsString(ptr: number): string {
    if (ptr === 0 || this.memory === null) return "?";
    try {
      const buffer = this.memory.buffer;
      const length = new DataView(buffer).getUint32(ptr - 4, true);
      return new TextDecoder("utf-16le").decode(new Uint8Array(buffer, ptr, Math.min(length, 1024)));
    } catch {
      return decoder.decode(new Uint8Array(0));
    }
  }
}

const sleepCell = new Int32Array(new SharedArrayBuffer(4));

/** Exports that are plumbing (initialisers, instrumentation), never plugin functions. */
const RESERVED_EXPORTS = new Set([
  "_initialize",
  "_start",
  "__guest_call",
  "wapc_init",
  FUEL_GLOBAL_EXPORT,
  MEMORY_EXPORT,
]);

import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, renameSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { type DistributiveOmit, ErrorCode, WasmatrixError, type WasmatrixErrorData } from "@wasmatrix/core";
import type { Logger } from "@wasmatrix/core/logger";
import type { HostCallRequest } from "../guest/wapc.js";
import { BridgeMainSide, createBridgeBuffer } from "./bridge.js";
import type { FromWorker, Job, JobResult, WorkerInit } from "./protocol.js";

/** Batches allowed in flight to one worker: two keep it busy while the main thread reads results. */
const MAX_BATCHES_IN_FLIGHT = 2;
/** Largest batch sent in one message. */
const MAX_BATCH_JOBS = 512;
/** How often a busy worker's job deadline is checked by the watchdog. */
const WATCHDOG_INTERVAL_MS = 250;

export type JobInput = DistributiveOmit<Job, "jid">;

export interface WorkerHandleOptions {
  init: Omit<WorkerInit, "bridge">;
  maxBridgePayloadBytes: number;
  /** Serves host calls the worker forwards; rejects with a WasmatrixError to answer with an error. */
  hostCall(instanceId: string, request: HostCallRequest): Promise<Uint8Array>;
  onOutput(instanceId: string, fd: 1 | 2, data: Uint8Array, dropped: number): void;
  /** The worker died or was terminated by the watchdog; every instance on it is gone. */
  onLost(instanceIds: string[], error: WasmatrixErrorData): void;
  /** Grace past a job's own deadline before the watchdog terminates the worker. */
  watchdogGraceMs: number;
  logger: Logger;
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: WasmatrixError): void;
}

let bundled: URL | undefined;

/** Names the bundle after the paths, sizes and times of every source it could contain. */
function sourcesKey(packagesDir: URL): string {
  const hash = createHash("sha256");
  for (const pkg of ["core", "runtime"]) {
    const root = fileURLToPath(new URL(`${pkg}/src/`, packagesDir));
    for (const name of readdirSync(root, { recursive: true, encoding: "utf8" }).sort()) {
      if (!name.endsWith(".ts")) continue;
      const stat = statSync(join(root, name));
      hash.update(`${pkg}/${name}:${stat.size}:${stat.mtimeMs}\n`);
    }
  }
  return hash.digest("hex").slice(0, 16);
}

/**
 * The worker's entry module. Built JavaScript is used as it is. From TypeScript sources (tsx,
 * vitest), Node 20 cannot hand a loader to a worker's main module, and transpiling the entry's
 * module tree in every new worker costs about a second; so the entry is bundled with esbuild
 * (what tsx itself runs on) into a file that every worker then loads as plain JavaScript. The
 * bundle is kept in the temp dir under a key of its sources, so only an edit rebuilds it.
 */
function workerScript(): URL {
  const self = import.meta.url;
  if (!self.endsWith(".ts")) return new URL("./entry.js", self);
  if (bundled !== undefined) return bundled;
  const dir = join(tmpdir(), "wasmatrix-worker");
  const file = join(dir, `entry-${sourcesKey(new URL("../../../", self))}.mjs`);
  if (!existsSync(file)) {
    const esbuild = createRequire(self)("esbuild") as typeof import("esbuild");
    const result = esbuild.buildSync({
      entryPoints: [fileURLToPath(new URL("./entry.ts", self))],
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      // The workspace packages' sources, as in tests; their default export is built dist/.
      conditions: ["wasmatrix-source"],
      write: false,
      logLevel: "silent",
    });
    mkdirSync(dir, { recursive: true });
    // Written under a temporary name and renamed, so a concurrent process never loads half a file.
    const partial = `${file}.${process.pid}.tmp`;
    writeFileSync(partial, result.outputFiles[0]!.text);
    renameSync(partial, file);
  }
  bundled = pathToFileURL(file);
  return bundled;
}

/**
 * The main thread's handle on one runtime worker: batches jobs, serves forwarded host calls,
 * relays output and runs the last-resort watchdog.
 */
export class WorkerHandle {
  readonly instances = new Set<string>();
  private readonly worker: Worker;
  private readonly bridge: BridgeMainSide;
  private readonly pending = new Map<number, Pending>();
  private queue: Job[] = [];
  private inFlight = 0;
  private nextJid = 1;
  private watchdog: NodeJS.Timeout | null = null;
  private dead: WasmatrixError | null = null;
  private terminating = false;
  readonly exited: Promise<void>;

  constructor(private readonly options: WorkerHandleOptions) {
    const buffer = createBridgeBuffer(options.maxBridgePayloadBytes);
    this.bridge = new BridgeMainSide(buffer);
    const url = workerScript();
    const init: WorkerInit = { ...options.init, bridge: buffer };
    this.worker = new Worker(url, { workerData: init });
    this.worker.on("message", (message: FromWorker) => this.onMessage(message));
    this.worker.on("error", (error) => this.die(`worker failed: ${error.message}`));
    this.exited = new Promise((resolve) => {
      this.worker.on("exit", (code) => {
        this.die(`worker exited with code ${code}`);
        resolve();
      });
    });
  }

  get isDead(): boolean {
    return this.dead !== null;
  }

  /** No job is queued or running: an unload now would not wait behind a guest. */
  get idle(): boolean {
    return this.pending.size === 0;
  }

  get load(): number {
    return this.instances.size;
  }

  submit<T>(input: JobInput): Promise<T> {
    if (this.dead !== null) return Promise.reject(this.dead);
    const jid = this.nextJid;
    // Wraps long before 2^53; jids only need to be unique among jobs in flight.
    this.nextJid = jid >= 0x3fffffff ? 1 : jid + 1;
    const job = { ...input, jid } as Job;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(jid, { resolve: resolve as (value: unknown) => void, reject });
      this.queue.push(job);
      this.pump();
    });
  }

  async terminate(): Promise<void> {
    // Ended on purpose: its instances were disposed or the runtime is closing, so nothing is lost.
    this.terminating = true;
    this.stopWatchdog();
    await this.worker.terminate();
  }

  private pump(): void {
    while (this.inFlight < MAX_BATCHES_IN_FLIGHT && this.queue.length > 0) {
      const jobs = this.queue.length <= MAX_BATCH_JOBS ? this.queue : this.queue.slice(0, MAX_BATCH_JOBS);
      this.queue = this.queue.length <= MAX_BATCH_JOBS ? [] : this.queue.slice(MAX_BATCH_JOBS);
      this.inFlight++;
      this.worker.postMessage({ t: "batch", jobs });
      this.startWatchdog();
    }
  }

  private onMessage(message: FromWorker): void {
    switch (message.t) {
      case "results":
        this.inFlight--;
        this.settle(message.results);
        if (this.inFlight === 0 && this.queue.length === 0) this.stopWatchdog();
        this.pump();
        return;
      case "output":
        this.options.onOutput(message.instanceId, message.fd, message.data, message.dropped);
        return;
      case "hostcall": {
        const { seq, instanceId, t: _t, ...request } = message;
        this.options.hostCall(instanceId, request).then(
          (data) => this.bridge.answer(seq, { ok: true, data }),
          (error: unknown) =>
            this.bridge.answer(seq, { ok: false, error: WasmatrixError.from(error).toData() }),
        );
        return;
      }
    }
  }

  private settle(results: JobResult[]): void {
    for (const result of results) {
      const waiter = this.pending.get(result.jid);
      if (waiter === undefined) continue;
      this.pending.delete(result.jid);
      if (result.ok) waiter.resolve(result.value);
      else waiter.reject(WasmatrixError.fromData(result.error));
    }
  }

  private startWatchdog(): void {
    if (this.watchdog !== null) return;
    this.watchdog = setInterval(() => {
      const deadline = this.bridge.jobDeadline();
      const now = performance.timeOrigin + performance.now();
      if (deadline !== 0 && now > deadline + this.options.watchdogGraceMs) {
        this.options.logger.warn(
          { overdueMs: now - deadline },
          "worker overran its job deadline; terminating it",
        );
        this.die("worker did not return from a job within its deadline and was terminated by the watchdog");
        void this.worker.terminate();
      }
    }, WATCHDOG_INTERVAL_MS);
    this.watchdog.unref();
  }

  private stopWatchdog(): void {
    if (this.watchdog !== null) clearInterval(this.watchdog);
    this.watchdog = null;
  }

  private die(message: string): void {
    if (this.dead !== null) return;
    this.stopWatchdog();
    this.dead = new WasmatrixError(ErrorCode.INTERNAL, message, { reason: "worker_lost" });
    const lost = [...this.instances];
    this.instances.clear();
    for (const waiter of this.pending.values()) waiter.reject(this.dead);
    this.pending.clear();
    this.queue = [];
    if (!this.terminating) this.options.onLost(lost, this.dead.toData());
  }
}

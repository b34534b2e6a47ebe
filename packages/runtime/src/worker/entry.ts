import { parentPort, workerData } from "node:worker_threads";
import { ErrorCode, WasmatrixError } from "@wasmatrix/core";
import { GuestInstance } from "../guest/instance.js";
import type { HostCallAnswer, HostCallRequest } from "../guest/wapc.js";
import type { Outcome } from "../outcome.js";
import { OutputRing } from "../output/index.js";
import { BridgeWorkerSide } from "./bridge.js";
import type { FromWorker, Job, JobResult, LoadJob, ToWorker, WorkerInit } from "./protocol.js";
import { builtinRouter, type RoutedInstance, type WorkerRouter } from "./router.js";

/**
 * Output goes to the main thread at the end of each batch, or this long after the last flush so a
 * long-running command's output streams out…
 */
const FLUSH_INTERVAL_MS = 50;
/**
 * …but no more than `maxOutputBytes` (or 1 MiB if more) of an instance's output per this window. Between flushes
 * each stream keeps only its newest `maxOutputBytes` and counts the rest as dropped, so a guest
 * writing as fast as it can (1.3 GB/s here) costs the main thread, which serves every other
 * instance, one cap's worth of lines a second, however it writes: in one endless command or in a
 * thousand invocations a second.
 */
const FORWARD_WINDOW_MS = 1_000;
/** The allowance per window is never below this, so a small cap does not also slow the output. */
const MIN_FORWARD_BYTES = 1024 * 1024;

const port = parentPort!;
const init = workerData as WorkerInit;
const bridge = new BridgeWorkerSide(init.bridge);
const router: WorkerRouter =
  init.routerModule === undefined
    ? builtinRouter
    : (
        (await import(init.routerModule)) as { createWorkerRouter(config: unknown): WorkerRouter }
      ).createWorkerRouter(init.routerConfig);
const encoder = new TextEncoder();

class Hosted implements RoutedInstance {
  readonly stdout: OutputRing;
  readonly stderr: OutputRing;
  private lastFlush = performance.now();
  private windowStart = performance.now();
  private forwarded = 0;
  private timer: NodeJS.Timeout | null = null;
  /** Bytes forwarded per window. */
  private readonly allowance: number;
  guest!: GuestInstance;
  context: unknown;

  constructor(
    readonly instanceId: string,
    maxOutputBytes: number,
    context: unknown,
  ) {
    this.allowance = Math.max(maxOutputBytes, MIN_FORWARD_BYTES);
    this.stdout = new OutputRing(maxOutputBytes);
    this.stderr = new OutputRing(maxOutputBytes);
    this.context = context;
  }

  log(line: string): void {
    this.write(2, encoder.encode(line.endsWith("\n") ? line : `${line}\n`));
  }

  write(fd: 1 | 2, bytes: Uint8Array): void {
    (fd === 1 ? this.stdout : this.stderr).write(bytes);
    if (init.flushOutputBytes !== undefined) {
      if (this.stdout.size + this.stderr.size >= init.flushOutputBytes) this.flush();
      return;
    }
    this.settle(false);
  }

  /**
   * Flushes if the interval has passed (or `batchEnd`) and the window's allowance is not spent;
   * otherwise the output waits in the rings, and a timer flushes it when the window turns.
   */
  settle(batchEnd: boolean): void {
    if (this.stdout.totalBytes + this.stderr.totalBytes === 0) return;
    if (init.flushOutputBytes !== undefined) {
      this.flush();
      return;
    }
    const now = performance.now();
    if (now - this.windowStart >= FORWARD_WINDOW_MS) {
      this.windowStart = now;
      this.forwarded = 0;
    }
    if (this.forwarded >= this.allowance) {
      this.timer ??= setTimeout(
        () => {
          this.timer = null;
          this.settle(true);
        },
        this.windowStart + FORWARD_WINDOW_MS - now,
      );
      return;
    }
    if (batchEnd || now - this.lastFlush > FLUSH_INTERVAL_MS) this.flush();
  }

  /** Sends what the rings hold now, whatever the allowance (a final flush, or the allowed one). */
  flush(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.lastFlush = performance.now();
    this.forwarded += this.stdout.size + this.stderr.size;
    for (const [fd, ring] of [
      [1, this.stdout],
      [2, this.stderr],
    ] as const) {
      if (ring.totalBytes === 0) continue;
      const data = ring.read();
      const dropped = ring.droppedBytes;
      // Freed, not kept: an instance that printed a burst once does not hold its ring forever.
      ring.release();
      post({ t: "output", instanceId: this.instanceId, fd, data, dropped });
    }
  }
}

const hosted = new Map<string, Hosted>();

function post(message: FromWorker): void {
  port.postMessage(message);
}

function forward(instance: Hosted, request: HostCallRequest, remainingMs: number): HostCallAnswer {
  const seq = bridge.open();
  post({ t: "hostcall", seq, instanceId: instance.instanceId, ...request });
  return bridge.await(init.spinMicros, Math.max(1, Math.min(init.hostCallTimeoutMs, remainingMs)));
}

function load(job: LoadJob): Outcome | null {
  const instance = new Hosted(job.instanceId, job.limits.maxOutputBytes, job.context);
  instance.guest = new GuestInstance(
    job.module,
    job.info,
    {
      instanceId: job.instanceId,
      kind: job.kind,
      limits: job.limits,
      args: job.args,
      env: job.env,
      ...(job.stdin === undefined ? {} : { stdin: job.stdin }),
      ...(job.extism === undefined ? {} : { extism: job.extism }),
      ...(job.preopens === undefined ? {} : { preopens: job.preopens }),
      ...(job.fsQuota === undefined ? {} : { fsQuota: job.fsQuota }),
    },
    {
      stdout: { write: (bytes) => instance.write(1, bytes) },
      stderr: { write: (bytes) => instance.write(2, bytes) },
      log: (line) => instance.log(line),
      hostCall: (request, remainingMs) =>
        router.route(instance, request) ?? forward(instance, request, remainingMs),
    },
  );
  hosted.set(job.instanceId, instance);
  try {
    return instance.guest.instantiate();
  } catch (error) {
    hosted.delete(job.instanceId);
    throw error;
  }
}

function find(instanceId: string): Hosted {
  const instance = hosted.get(instanceId);
  if (instance === undefined) {
    throw new WasmatrixError(
      ErrorCode.INSTANCE_NOT_FOUND,
      `instance '${instanceId}' is not loaded on this worker`,
      {
        instanceId,
      },
    );
  }
  return instance;
}

function execute(job: Job): JobResult {
  try {
    switch (job.op) {
      case "load":
        bridge.setJobDeadline(performance.timeOrigin + performance.now() + job.limits.invokeTimeoutMs);
        return { jid: job.jid, ok: true, value: load(job) };
      case "run": {
        const instance = find(job.instanceId);
        const timeout = instance.guest.config.limits.runTimeoutMs;
        bridge.setJobDeadline(timeout === null ? 0 : performance.timeOrigin + performance.now() + timeout);
        return { jid: job.jid, ok: true, value: instance.guest.run() };
      }
      case "invoke": {
        const instance = find(job.instanceId);
        bridge.setJobDeadline(
          performance.timeOrigin + performance.now() + instance.guest.config.limits.invokeTimeoutMs,
        );
        return { jid: job.jid, ok: true, value: instance.guest.invoke(job.operation, job.payload) };
      }
      case "context":
        find(job.instanceId).context = job.context;
        return { jid: job.jid, ok: true, value: null };
      case "unload":
        hosted.get(job.instanceId)?.flush();
        hosted.get(job.instanceId)?.guest.close();
        hosted.delete(job.instanceId);
        return { jid: job.jid, ok: true, value: null };
    }
  } catch (error) {
    return { jid: job.jid, ok: false, error: WasmatrixError.from(error).toData() };
  } finally {
    bridge.setJobDeadline(0);
  }
}

port.on("message", (message: ToWorker) => {
  const results = message.jobs.map(execute);
  for (const job of message.jobs) hosted.get(job.instanceId)?.settle(true);
  post({ t: "results", results });
});

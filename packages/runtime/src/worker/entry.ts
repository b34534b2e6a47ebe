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
 * long-running command's output streams out. Between flushes each stream keeps only its newest
 * `maxOutputBytes` (the rest is counted and dropped): a guest writing as fast as it can sends the
 * main thread at most two rings per interval, not everything it wrote, so the thread that serves
 * every other instance is never flooded.
 */
const FLUSH_INTERVAL_MS = 50;

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
  guest!: GuestInstance;
  context: unknown;

  constructor(
    readonly instanceId: string,
    maxOutputBytes: number,
    context: unknown,
  ) {
    this.stdout = new OutputRing(maxOutputBytes);
    this.stderr = new OutputRing(maxOutputBytes);
    this.context = context;
  }

  log(line: string): void {
    this.write(2, encoder.encode(line.endsWith("\n") ? line : `${line}\n`));
  }

  write(fd: 1 | 2, bytes: Uint8Array): void {
    (fd === 1 ? this.stdout : this.stderr).write(bytes);
    const pending = this.stdout.size + this.stderr.size;
    if (
      performance.now() - this.lastFlush > FLUSH_INTERVAL_MS ||
      (init.flushOutputBytes !== undefined && pending >= init.flushOutputBytes)
    ) {
      this.flush();
    }
  }

  flush(): void {
    this.lastFlush = performance.now();
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
  for (const job of message.jobs) hosted.get(job.instanceId)?.flush();
  post({ t: "results", results });
});

import type { WasmatrixErrorData } from "@wasmatrix/core";
import type { ExtismConfig } from "../guest/extism.js";
import type { InstanceKind } from "../guest/instance.js";
import type { ModuleInfo } from "../instrument/index.js";
import type { InstanceLimits } from "../limits.js";
import type { InvokeResult, Outcome } from "../outcome.js";
import type { FilesystemQuota, Preopen } from "../wasi/index.js";

/**
 * Messages between the main thread and a runtime worker. Jobs travel in batches: when calls come
 * back to back, one message (and one thread wake-up, ~45 µs here) carries many of them.
 */

export interface LoadJob {
  op: "load";
  jid: number;
  instanceId: string;
  module: WebAssembly.Module;
  info: ModuleInfo;
  kind: InstanceKind;
  limits: InstanceLimits;
  args: string[];
  env: Record<string, string>;
  stdin?: Uint8Array;
  extism?: ExtismConfig;
  preopens?: Preopen[];
  fsQuota?: FilesystemQuota;
  /** Opaque data for the worker's host-call router (e.g. capability assignments). */
  context?: unknown;
}

export interface RunJob {
  op: "run";
  jid: number;
  instanceId: string;
}

export interface InvokeJob {
  op: "invoke";
  jid: number;
  instanceId: string;
  operation: string;
  payload: Uint8Array;
}

export interface UnloadJob {
  op: "unload";
  jid: number;
  instanceId: string;
}

export interface ContextJob {
  op: "context";
  jid: number;
  instanceId: string;
  context: unknown;
}

export type Job = LoadJob | RunJob | InvokeJob | UnloadJob | ContextJob;

export type JobResult =
  | { jid: number; ok: true; value: Outcome | InvokeResult | null }
  | { jid: number; ok: false; error: WasmatrixErrorData };

export type ToWorker = { t: "batch"; jobs: Job[] };

export type FromWorker =
  | { t: "results"; results: JobResult[] }
  /** `dropped`: bytes the worker's ring let go since the previous output message, before `data`. */
  | { t: "output"; instanceId: string; fd: 1 | 2; data: Uint8Array; dropped: number }
  | {
      t: "hostcall";
      seq: number;
      instanceId: string;
      binding: string;
      namespace: string;
      operation: string;
      payload: Uint8Array;
    };

export interface WorkerInit {
  /** The SharedArrayBuffer behind the host-call bridge (see bridge.ts). */
  bridge: SharedArrayBuffer;
  /** Module URL exporting `createWorkerRouter(config)`; the built-in logging router when absent. */
  routerModule?: string;
  routerConfig?: unknown;
  /**
   * Flush output as soon as this much is pending, so nothing is dropped between flushes (for a
   * CLI whose output is its user's terminal). Absent: only on the flush interval and batch ends.
   */
  flushOutputBytes?: number;
  /** How long the worker spins for a host-call answer before parking, in µs. */
  spinMicros: number;
  /** Upper bound on waiting for a host-call answer, in ms. */
  hostCallTimeoutMs: number;
}

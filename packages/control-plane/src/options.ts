import type { Metrics } from "@wasmatrix/core";
import type { Logger } from "@wasmatrix/core/logger";
import type { PulledModule, Reference } from "@wasmatrix/oci";

/** Where `oci://` starts are pulled from: a RegistryClient unless a test or an embedder says otherwise. */
export interface ModuleRegistry {
  pull(ref: Reference): Promise<PulledModule>;
}

import type { TriggersOptions } from "./triggers/triggers.js";

/** How a control plane runs; every field has a default. */
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
  /** Pulls `oci://` modules; default a RegistryClient with docker's credentials. */
  registry?: ModuleRegistry;
  logger?: Logger;
  /** Where heartbeats, node losses and the node and provider gauges go. Default: `noopMetrics`. */
  metrics?: Metrics;
  now?: () => number;
  version?: string;
  /** Where triggers are kept, who fires a cron tick, and the host of queue triggers (docs/triggers.md). */
  triggers?: TriggersOptions;
}

export const DEFAULT_HEARTBEAT_INTERVAL_MS = 1_000;
export const DEFAULT_LOSS_AFTER_INTERVALS = 3;

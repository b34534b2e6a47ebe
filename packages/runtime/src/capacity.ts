import { ErrorCode, WasmatrixError } from "@wasmatrix/core";

/**
 * Wasm memories one process can hold. On 64-bit Linux V8 reserves about 10 GiB of address space
 * per memory (8 GiB plus guard pages, so that bounds checks are free); a 47-bit user address space
 * of 128 TiB holds about 13,100 of them. Past that, every reservation runs several full garbage
 * collections of the worker's heap before it fails (about 3 s each on a 2-core machine with
 * 12,000 instances loaded), and the worker answers nothing else meanwhile. Measured on Node 20: a
 * bare process fails its 13,087th memory; a runtime of echo reactors crossed that slope at about
 * 12,390 instances. The margin keeps a runtime process off it.
 */
export const MAX_WASM_MEMORIES_PER_PROCESS = 12_000;

/**
 * Processes the runtime's instances live in. Worker threads share their process's address space,
 * so workers do not multiply the ceiling; only more processes (runtime shards) would.
 */
export const RUNTIME_PROCESSES = 1;

/** Instances a runtime holds by default: memories per process times its processes. */
export const DEFAULT_MAX_INSTANCES = MAX_WASM_MEMORIES_PER_PROCESS * RUNTIME_PROCESSES;

/** Refuses a start that would pass `maxInstances`: at once, before anything is reserved. */
export function capacityExhausted(running: number, maxInstances: number, where: string): WasmatrixError {
  return new WasmatrixError(
    ErrorCode.RESOURCE_EXHAUSTED,
    `${where} is full: it runs ${running} instances and holds at most ${maxInstances}; ` +
      "start the instance on another node, run more runtime shards, or stop instances you no longer need",
    { reason: "capacity", limit: "max_instances", maxInstances, running },
  );
}

/**
 * Checks a configured `maxInstances`. Above the default is allowed (a platform without guard
 * regions holds more); a start the engine then cannot reserve memory for still fails alone.
 */
export function resolveMaxInstances(value: number | undefined): number {
  if (value === undefined) return DEFAULT_MAX_INSTANCES;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new WasmatrixError(
      ErrorCode.INVALID_REQUEST,
      `maxInstances must be a positive integer, got ${String(value)}`,
      { field: "maxInstances", value: String(value) },
    );
  }
  return value;
}

// The defaults are named in core, so the CLI's help and the daemons' flags print the numbers the
// runtime uses.
import {
  DEFAULT_FUEL,
  DEFAULT_INVOKE_TIMEOUT_MS,
  DEFAULT_MAX_HOST_CALL_PAYLOAD_BYTES,
  DEFAULT_MAX_MEMORY_BYTES,
  DEFAULT_MAX_OUTPUT_BYTES,
  DEFAULT_RUN_TIMEOUT_MS,
  ErrorCode,
  WasmatrixError,
} from "@wasmatrix/core";

/** Bytes in one WebAssembly page. */
export const WASM_PAGE_BYTES = 65_536;

/** Ceiling for any instance's memory cap: the 4 GiB wasm32 address space. */
export const MAX_MEMORY_BYTES_CEILING = 65_536 * WASM_PAGE_BYTES;

/**
 * Limits on one instance. Every limit is finite by default except the command-run deadline,
 * which the fuel budget backs up.
 */
export interface InstanceLimits {
  /** Cap on linear memory in bytes, rounded down to whole pages. Default 256 MiB. */
  maxMemoryBytes: number;
  /** Fuel per command run or per invocation. Default 10^10. */
  fuel: number;
  /** Wall-clock limit per invocation, in ms. Default 30 000. */
  invokeTimeoutMs: number;
  /** Wall-clock limit for a command run, in ms; `null` = none. Default none. */
  runTimeoutMs: number | null;
  /** Cap on one host-call request or response payload, and on an invocation's payload and response. Default 1 MiB. */
  maxHostCallPayloadBytes: number;
  /** Bytes of stdout and of stderr kept per instance (the newest are kept). Default 1 MiB each. */
  maxOutputBytes: number;
}

export const DEFAULT_LIMITS: Readonly<InstanceLimits> = Object.freeze({
  maxMemoryBytes: DEFAULT_MAX_MEMORY_BYTES,
  fuel: DEFAULT_FUEL,
  invokeTimeoutMs: DEFAULT_INVOKE_TIMEOUT_MS,
  runTimeoutMs: DEFAULT_RUN_TIMEOUT_MS,
  maxHostCallPayloadBytes: DEFAULT_MAX_HOST_CALL_PAYLOAD_BYTES,
  maxOutputBytes: DEFAULT_MAX_OUTPUT_BYTES,
});

function positiveInteger(field: keyof InstanceLimits, value: unknown, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value <= 0 || value > max) {
    throw new WasmatrixError(
      ErrorCode.INVALID_REQUEST,
      `limit '${field}' must be a positive integer no larger than ${max}, got ${String(value)}`,
      { field, value: String(value), max },
    );
  }
  return value;
}

/** Fills defaults and refuses impossible values. The rest of the runtime trusts the result. */
export function resolveLimits(input: Partial<InstanceLimits> = {}): InstanceLimits {
  const merged = { ...DEFAULT_LIMITS, ...stripUndefined(input) };
  const maxMemoryBytes = positiveInteger("maxMemoryBytes", merged.maxMemoryBytes, MAX_MEMORY_BYTES_CEILING);
  if (maxMemoryBytes < WASM_PAGE_BYTES) {
    throw new WasmatrixError(
      ErrorCode.INVALID_REQUEST,
      "limit 'maxMemoryBytes' must be at least one page (64 KiB)",
      {
        field: "maxMemoryBytes",
        value: maxMemoryBytes,
      },
    );
  }
  return {
    maxMemoryBytes,
    fuel: positiveInteger("fuel", merged.fuel),
    invokeTimeoutMs: positiveInteger("invokeTimeoutMs", merged.invokeTimeoutMs),
    runTimeoutMs: merged.runTimeoutMs === null ? null : positiveInteger("runTimeoutMs", merged.runTimeoutMs),
    maxHostCallPayloadBytes: positiveInteger("maxHostCallPayloadBytes", merged.maxHostCallPayloadBytes),
    maxOutputBytes: positiveInteger("maxOutputBytes", merged.maxOutputBytes),
  };
}

export function memoryCapPages(limits: InstanceLimits): number {
  return Math.floor(limits.maxMemoryBytes / WASM_PAGE_BYTES);
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

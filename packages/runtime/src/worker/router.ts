import { ErrorCode } from "@wasmatrix/core";
import type { HostCallAnswer, HostCallRequest } from "../guest/wapc.js";

/** Capability namespace served by the built-in logging capability. */
export const LOGGING_NAMESPACE = "wasmatrix:logging";

export interface RoutedInstance {
  readonly instanceId: string;
  /** Opaque data from the load job, replaced by context jobs (e.g. capability assignments). */
  readonly context: unknown;
  /** Appends a line to the instance's log. */
  log(line: string): void;
}

/**
 * Serves host calls inside the worker that runs the guest: the path for cheap synchronous
 * capabilities, which then cost no thread crossing. Returning `undefined` forwards the call to
 * the main thread's async router.
 */
export interface WorkerRouter {
  route(instance: RoutedInstance, request: HostCallRequest): HostCallAnswer | undefined;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const EMPTY = new Uint8Array(0);
const LEVELS = new Set(["trace", "debug", "info", "warn", "error", "fatal"]);

/**
 * `wasmatrix:logging`: the payload is JSON `{"level": "...", "message": "..."}` or, failing that,
 * plain UTF-8 text logged at the level named by the operation (`info` when it names none).
 */
export function logLine(request: HostCallRequest): string {
  const text = decoder.decode(request.payload);
  let level = LEVELS.has(request.operation) ? request.operation : "info";
  let message = text;
  if (text.startsWith("{")) {
    try {
      const parsed = JSON.parse(text) as { level?: unknown; message?: unknown };
      if (typeof parsed.message === "string") message = parsed.message;
      if (typeof parsed.level === "string" && LEVELS.has(parsed.level)) level = parsed.level;
    } catch {
      // Not JSON after all: log the text as it is.
    }
  }
  return `[${level}] ${message}`;
}

/**
 * What the built-in router needs to know of an instance, passed as its context. A supervisor
 * that manages assignments sets `logging`; an instance run without any (as `wasmatrix run` does)
 * may log.
 */
export interface BuiltinRouterContext {
  logging?: boolean;
}

/** The router a worker uses when none is configured: logging in-worker, the rest forwarded. */
export const builtinRouter: WorkerRouter = {
  route(instance, request) {
    if (request.namespace !== LOGGING_NAMESPACE) return undefined;
    if ((instance.context as BuiltinRouterContext | undefined)?.logging === false) {
      return {
        ok: false,
        error: {
          code: ErrorCode.CAPABILITY_NOT_ASSIGNED,
          message: `instance '${instance.instanceId}' has no logging assignment`,
          details: { capability: "logging", instanceId: instance.instanceId },
          timestamp: Date.now(),
        },
      };
    }
    instance.log(logLine(request));
    return { ok: true, data: EMPTY };
  },
};

export { encoder as utf8Encoder };

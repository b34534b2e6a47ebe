import { DEFAULT_MAX_CONCURRENCY, DEFAULT_QUEUE_DEPTH, ErrorCode, WasmatrixError } from "@wasmatrix/core";

/**
 * Per-instance backpressure (docs/gateway.md): at most `maxConcurrency` invocations run, at most
 * `queueDepth` wait, and anything beyond is refused at once, so a flood costs a bounded amount of
 * memory. It sits in the node agent because every entry (gateway, Invoke, triggers) ends there.
 */
export interface AdmissionLimits {
  maxConcurrency: number;
  queueDepth: number;
}

/** What a refused caller is told to wait before trying again (HTTP Retry-After). */
export const RETRY_AFTER_MS = 1_000;
const MAX_LIMIT = 100_000;

export function resolveAdmission(input: Partial<AdmissionLimits> = {}): AdmissionLimits {
  const check = (field: keyof AdmissionLimits, fallback: number, min: number): number => {
    const value = input[field] ?? fallback;
    if (!Number.isSafeInteger(value) || value < min || value > MAX_LIMIT) {
      throw new WasmatrixError(
        ErrorCode.INVALID_REQUEST,
        `${field} must be a whole number from ${min} to ${MAX_LIMIT}`,
        {
          field,
        },
      );
    }
    return value;
  };
  return {
    maxConcurrency: check("maxConcurrency", DEFAULT_MAX_CONCURRENCY, 1),
    queueDepth: check("queueDepth", DEFAULT_QUEUE_DEPTH, 0),
  };
}

interface Waiter {
  resolve(): void;
  reject(error: unknown): void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

export class Admission {
  private running = 0;
  private readonly waiting: Waiter[] = [];

  constructor(
    private readonly instanceId: string,
    private readonly limits: AdmissionLimits,
  ) {}

  get active(): number {
    return this.running;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** Runs `work` once a slot is free; refuses at once when the queue is full or the caller left. */
  async run<T>(work: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    await this.acquire(signal);
    try {
      return await work();
    } finally {
      this.release();
    }
  }

  private acquire(signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted) return Promise.reject(callerGone(this.instanceId));
    if (this.running < this.limits.maxConcurrency) {
      this.running++;
      return Promise.resolve();
    }
    if (this.waiting.length >= this.limits.queueDepth) {
      return Promise.reject(
        new WasmatrixError(
          ErrorCode.RESOURCE_EXHAUSTED,
          `instance '${this.instanceId}' is busy: ${this.running} invocations running and ${this.waiting.length} queued (its --queue-depth); retry later`,
          { instanceId: this.instanceId, queueDepth: this.limits.queueDepth, retryAfterMs: RETRY_AFTER_MS },
        ),
      );
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          // A caller that went away is dropped from the queue: its work never runs.
          const at = this.waiting.indexOf(waiter);
          if (at >= 0) this.waiting.splice(at, 1);
          reject(callerGone(this.instanceId));
        },
      };
      signal?.addEventListener("abort", waiter.onAbort, { once: true });
      this.waiting.push(waiter);
    });
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next === undefined) {
      this.running--;
      return;
    }
    // The slot passes straight to the next waiter: `running` stays as it is.
    next.signal?.removeEventListener("abort", next.onAbort);
    next.resolve();
  }
}

function callerGone(instanceId: string): WasmatrixError {
  return new WasmatrixError(ErrorCode.FAILED_PRECONDITION, "the caller went away before the invocation ran", {
    instanceId,
    reason: "caller_gone",
  });
}

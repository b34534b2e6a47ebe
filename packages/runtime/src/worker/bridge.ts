import { ErrorCode, type WasmatrixErrorData } from "@wasmatrix/core";

/**
 * A one-slot mailbox in a SharedArrayBuffer through which a worker, blocked inside a guest's
 * `__host_call`, receives the answer to a host call served by async code on the main thread.
 *
 * Layout (Int32 words): [0] state, [1] seq, [2] status (0 ok, 1 error), [3] length,
 * [4] busy (a job is running), then a Float64 at byte 24: the running job's deadline
 * (performance.timeOrigin-based ms; 0 = none), then the payload from byte 32.
 * States: IDLE → (worker) PENDING → (main, by compare-and-swap) WRITING → READY → (worker) IDLE.
 * The CAS plus the seq check means an answer that arrives after the worker gave up is dropped
 * and can never be mistaken for the answer to a later call.
 */
const IDLE = 0;
const PENDING = 1;
const WRITING = 3;
const READY = 2;
const HEADER_BYTES = 32;

export const BRIDGE_OVERHEAD_BYTES = HEADER_BYTES + 4096;

export function createBridgeBuffer(maxPayloadBytes: number): SharedArrayBuffer {
  return new SharedArrayBuffer(HEADER_BYTES + maxPayloadBytes + 4096);
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export type BridgeAnswer = { ok: true; data: Uint8Array } | { ok: false; error: WasmatrixErrorData };

export class BridgeWorkerSide {
  private readonly words: Int32Array;
  private readonly deadline: Float64Array;
  private readonly data: Uint8Array;
  private seq = 0;

  constructor(buffer: SharedArrayBuffer) {
    this.words = new Int32Array(buffer, 0, 6);
    this.deadline = new Float64Array(buffer, 24, 1);
    this.data = new Uint8Array(buffer, HEADER_BYTES);
  }

  /** Publishes the running job's absolute deadline for the main thread's watchdog. */
  setJobDeadline(epochMs: number): void {
    this.deadline[0] = epochMs;
    Atomics.store(this.words, 4, epochMs === 0 ? 0 : 1);
  }

  /** Opens a call: returns its seq, to be sent to the main thread with the request. */
  open(): number {
    this.seq = (this.seq + 1) | 0;
    Atomics.store(this.words, 1, this.seq);
    Atomics.store(this.words, 0, PENDING);
    return this.seq;
  }

  /** Waits for the answer: spins for `spinMicros`, then parks until `timeoutMs`. */
  await(spinMicros: number, timeoutMs: number): BridgeAnswer {
    const words = this.words;
    const spinUntil = performance.now() + spinMicros / 1000;
    while (Atomics.load(words, 0) !== READY && performance.now() < spinUntil) {
      // Busy-wait: when answers come back within microseconds this beats a park/wake round trip.
    }
    const giveUpAt = performance.now() + timeoutMs;
    for (;;) {
      const state = Atomics.load(words, 0);
      if (state === READY) break;
      const left = giveUpAt - performance.now();
      if (left <= 0 && state === PENDING && Atomics.compareExchange(words, 0, PENDING, IDLE) === PENDING) {
        return {
          ok: false,
          error: {
            code: ErrorCode.TIMEOUT,
            message: `host call got no answer within ${timeoutMs} ms`,
            details: { timeoutMs },
            timestamp: Date.now(),
          },
        };
      }
      Atomics.wait(words, 0, state, Math.max(1, left));
    }
    const length = words[3]!;
    const bytes = this.data.slice(0, length);
    const status = words[2]!;
    Atomics.store(words, 0, IDLE);
    if (status === 0) return { ok: true, data: bytes };
    return { ok: false, error: JSON.parse(decoder.decode(bytes)) as WasmatrixErrorData };
  }
}

export class BridgeMainSide {
  private readonly words: Int32Array;
  private readonly deadline: Float64Array;
  private readonly data: Uint8Array;

  constructor(buffer: SharedArrayBuffer) {
    this.words = new Int32Array(buffer, 0, 6);
    this.deadline = new Float64Array(buffer, 24, 1);
    this.data = new Uint8Array(buffer, HEADER_BYTES);
  }

  /** The running job's deadline, or 0 when idle or unlimited. */
  jobDeadline(): number {
    return Atomics.load(this.words, 4) === 0 ? 0 : this.deadline[0]!;
  }

  /** Delivers an answer; returns false if the worker had given up on that call. */
  answer(seq: number, answer: BridgeAnswer): boolean {
    const words = this.words;
    if (Atomics.compareExchange(words, 0, PENDING, WRITING) !== PENDING) return false;
    if (Atomics.load(words, 1) !== seq) {
      Atomics.store(words, 0, PENDING);
      return false;
    }
    let bytes = answer.ok ? answer.data : encoder.encode(JSON.stringify(answer.error));
    let status = answer.ok ? 0 : 1;
    if (bytes.byteLength > this.data.byteLength) {
      status = 1;
      bytes = encoder.encode(
        JSON.stringify({
          code: ErrorCode.RESOURCE_EXHAUSTED,
          message: `host call answer of ${bytes.byteLength} bytes does not fit the ${this.data.byteLength}-byte bridge`,
          details: { sizeBytes: bytes.byteLength },
          timestamp: Date.now(),
        }),
      );
    }
    this.data.set(bytes);
    words[2] = status;
    words[3] = bytes.byteLength;
    Atomics.store(words, 0, READY);
    Atomics.notify(words, 0);
    return true;
  }
}

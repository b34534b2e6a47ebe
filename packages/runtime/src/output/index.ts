import { ErrorCode, WasmatrixError } from "@wasmatrix/core";
import type { OutputBudget } from "./budget.js";

export { DEFAULT_NODE_OUTPUT_BYTES, OutputBudget } from "./budget.js";

/** Where a guest's stdout or stderr bytes go. Writers hand over a copy, never a view of guest memory. */
export interface OutputSink {
  write(bytes: Uint8Array): void;
}

/**
 * Smallest buffer a ring allocates. Most instances print a few lines, so a ring grows by doubling
 * from here instead of reserving its whole capacity: 10 000 idle instances with 1 MiB caps would
 * otherwise pin 20 GiB for stdout and stderr alone.
 */
const INITIAL_BUFFER_BYTES = 4096;

const decoder = new TextDecoder();

/**
 * Keeps the newest `capacity` bytes written to it and counts the rest. Memory is bounded by
 * `capacity` and allocated only as output arrives; once the buffer reaches `capacity` it is
 * reused in place and never reallocated. With a node-wide `budget`, the buffer grows only as far
 * as the budget allows: a ring denied growth keeps fewer (still the newest) bytes and counts the
 * rest as dropped.
 */
export class OutputRing implements OutputSink {
  readonly capacity: number;
  private buffer: Uint8Array | null = null;
  /** Index of the oldest retained byte. Stays 0 until the buffer has reached `capacity`. */
  private start = 0;
  private retained = 0;
  private dropped = 0;

  constructor(
    capacity: number,
    private readonly budget?: OutputBudget,
  ) {
    if (!Number.isSafeInteger(capacity) || capacity < 0) {
      throw new WasmatrixError(
        ErrorCode.INVALID_REQUEST,
        `output capacity must be a non-negative integer number of bytes, not ${capacity}`,
        { capacity },
      );
    }
    this.capacity = capacity;
  }

  get size(): number {
    return this.retained;
  }

  get totalBytes(): number {
    return this.retained + this.dropped;
  }

  get droppedBytes(): number {
    return this.dropped;
  }

  write(bytes: Uint8Array): void {
    const n = bytes.byteLength;
    if (n === 0) return;
    const buffer = this.reserve(Math.min(this.capacity, this.retained + n));
    const length = buffer?.byteLength ?? 0;
    if (buffer === null || n >= length) {
      // The write alone fills the ring: everything before it, and its own head, is lost.
      if (buffer !== null) buffer.set(bytes.subarray(n - length));
      this.dropped += this.retained + n - length;
      this.start = 0;
      this.retained = length;
      return;
    }
    const overflow = Math.max(0, this.retained + n - length);
    this.dropped += overflow;
    this.start = (this.start + overflow) % length;
    this.retained -= overflow;
    const end = (this.start + this.retained) % length;
    const first = Math.min(n, length - end);
    buffer.set(bytes.subarray(0, first), end);
    if (first < n) buffer.set(bytes.subarray(first), 0);
    this.retained += n;
  }

  /** The retained bytes, oldest first, as a copy the caller owns. */
  read(): Uint8Array {
    const out = new Uint8Array(this.retained);
    const buffer = this.buffer;
    if (buffer === null || this.retained === 0) return out;
    const first = Math.min(this.retained, buffer.byteLength - this.start);
    out.set(buffer.subarray(this.start, this.start + first));
    if (first < this.retained) out.set(buffer.subarray(0, this.retained - first), first);
    return out;
  }

  /** The retained bytes as UTF-8; a character cut by the ring's edge decodes as U+FFFD. */
  text(): string {
    return decoder.decode(this.read());
  }

  /** Counts bytes dropped before they reached this ring (by a worker's ring, for one). */
  countDropped(bytes: number): void {
    this.dropped += bytes;
  }

  /** Forgets the retained bytes and both counters; the buffer is kept for the next writes. */
  clear(): void {
    this.start = 0;
    this.retained = 0;
    this.dropped = 0;
  }

  /** Forgets the retained bytes and both counters, and frees the buffer (back to the budget). */
  release(): void {
    this.clear();
    if (this.buffer !== null) this.budget?.release(this.buffer.byteLength);
    this.buffer = null;
  }

  /**
   * A buffer of at least `needed` bytes (never more than `capacity`), holding the retained bytes;
   * smaller (or none) when the budget refuses the growth.
   */
  private reserve(needed: number): Uint8Array | null {
    const current = this.buffer;
    if (current !== null && current.byteLength >= needed) return current;
    let length = Math.max(current?.byteLength ?? 0, INITIAL_BUFFER_BYTES);
    while (length < needed) length *= 2;
    length = Math.min(length, this.capacity);
    if (length === 0) return current;
    if (this.budget !== undefined && !this.budget.tryReserve(length - (current?.byteLength ?? 0))) {
      return current;
    }
    const next = new Uint8Array(length);
    // Without a budget, growth happens only before the first wrap; a ring that the budget held
    // back may have wrapped since, so the retained bytes are copied oldest first either way.
    if (current !== null) next.set(this.read());
    this.start = 0;
    this.buffer = next;
    return next;
  }
}

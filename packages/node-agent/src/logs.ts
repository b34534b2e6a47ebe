import type { OutputBudget } from "@wasmatrix/runtime";

export type LogStream = "stdout" | "stderr";

export interface LogLine {
  instanceId: string;
  stream: LogStream;
  text: string;
  at: number;
  /** The run that wrote it: 1 for the first, 2 after the first restart… */
  run: number;
}

/** Which lines a reader wants; every field left out matches all. */
export interface LogFilter {
  /** Only this run's lines (0: every run). */
  run?: number;
  /** Only lines written at or after this time, ms since the epoch (0: all). */
  sinceMs?: number;
  /** Only lines containing this text: a plain substring, never a pattern a guest's logs could make slow. */
  grep?: string;
}

export function matchesLog(line: LogLine, filter: LogFilter): boolean {
  return (
    (filter.run === undefined || filter.run === 0 || line.run === filter.run) &&
    (filter.sinceMs === undefined || line.at >= filter.sinceMs) &&
    (filter.grep === undefined || filter.grep === "" || line.text.includes(filter.grep))
  );
}

const ALL: LogFilter = {};

type Listener = (line: LogLine) => void;

/** Longest line kept, in bytes of UTF-8; the rest of a longer line is cut and marked `…`. */
export const MAX_LINE_BYTES = 8 * 1024;
/** What a kept line costs beyond its text: the object, its fields, the slot. A measured upper bound. */
const LINE_OVERHEAD_BYTES = 96;
const NEWLINE = 0x0a;

export interface LogBufferOptions {
  /** Most lines kept. */
  lines: number;
  /** Most bytes kept, lines and their overhead together (the instance's output cap). */
  maxBytes: number;
  /** The node's allowance for all instances' logs together. */
  budget?: OutputBudget;
  now?: () => number;
}

/** The bytes of a line still waiting for its newline: at most MAX_LINE_BYTES, copied, plus a cut mark. */
class PartialLine {
  private readonly bytes = new Uint8Array(MAX_LINE_BYTES);
  length = 0;
  cut = false;

  append(bytes: Uint8Array): void {
    const room = MAX_LINE_BYTES - this.length;
    if (bytes.byteLength > room) this.cut = true;
    const take = Math.min(room, bytes.byteLength);
    this.bytes.set(bytes.subarray(0, take), this.length);
    this.length += take;
  }

  get view(): Uint8Array {
    return this.bytes.subarray(0, this.length);
  }

  reset(): void {
    this.length = 0;
    this.cut = false;
  }
}

const decoder = new TextDecoder();

/**
 * The newest lines an instance printed, kept across its restarts so `logs` shows why it crashed.
 * Bounded in lines, in bytes per instance and (with a budget) across the node. Lines are cut into
 * fresh strings from at most MAX_LINE_BYTES of bytes each: a substring of a large decoded chunk
 * would keep the whole chunk alive for as long as the line is kept. Output the runtime dropped
 * over the instance's cap shows as a marker line saying how many bytes are missing.
 */
export class LogBuffer {
  private readonly lines: (LogLine | undefined)[];
  private readonly costs: number[];
  private next = 0;
  private count = 0;
  private bytes = 0;
  private droppedLines = 0;
  /** Bytes the runtime dropped over the output cap, per stream, and when it last did. */
  private readonly droppedBytes: Record<LogStream, { bytes: number; at: number }> = {
    stdout: { bytes: 0, at: 0 },
    stderr: { bytes: 0, at: 0 },
  };
  private readonly partial: Record<LogStream, PartialLine> = {
    stdout: new PartialLine(),
    stderr: new PartialLine(),
  };
  private readonly listeners = new Set<Listener>();
  private readonly capacity: number;
  private readonly maxBytes: number;
  private readonly now: () => number;
  /** The run whose output is written now; the supervisor moves it on at each restart. */
  run = 1;

  constructor(
    readonly instanceId: string,
    private readonly options: LogBufferOptions,
  ) {
    this.capacity = options.lines;
    this.maxBytes = options.maxBytes;
    this.now = options.now ?? Date.now;
    this.lines = new Array(this.capacity);
    this.costs = new Array(this.capacity).fill(0);
  }

  /** Bytes held by the kept lines (by the same estimate the bounds use). */
  get sizeBytes(): number {
    return this.bytes;
  }

  /** Lines not kept because the node's budget was spent and this instance had nothing to give back. */
  get linesDropped(): number {
    return this.droppedLines;
  }

  /** `dropped`: bytes of this stream lost over the output cap just before `bytes`. */
  write(stream: LogStream, bytes: Uint8Array, dropped = 0): void {
    const partial = this.partial[stream];
    if (dropped > 0) {
      this.droppedBytes[stream].bytes += dropped;
      this.droppedBytes[stream].at = this.now();
      this.endPartial(stream);
      this.push(stream, `[wasmatrix: ${dropped} bytes of ${stream} dropped, over the output cap]`);
    }
    let from = 0;
    for (let nl = bytes.indexOf(NEWLINE); nl !== -1; nl = bytes.indexOf(NEWLINE, from)) {
      const rest = bytes.subarray(from, nl);
      if (partial.length === 0 && !partial.cut) {
        this.push(stream, lineText(rest.subarray(0, MAX_LINE_BYTES), rest.byteLength > MAX_LINE_BYTES));
      } else {
        partial.append(rest);
        this.endPartial(stream);
      }
      from = nl + 1;
    }
    if (from < bytes.byteLength) partial.append(bytes.subarray(from));
  }

  /** Emits any unfinished lines (when an instance ends). */
  flush(): void {
    this.endPartial("stdout");
    this.endPartial("stderr");
  }

  /**
   * Retained lines that match `filter`, oldest first; `tail` keeps only the last so many of
   * those. Then, for a stream that lost output over the cap, a line with the total: the markers
   * where bytes went missing are soon pushed out by the lines after them, and a user reading the
   * logs must still learn it.
   */
  read(tail = 0, filter: LogFilter = ALL): LogLine[] {
    const out: LogLine[] = [];
    // Newest first, so that a tail stops early; reversed at the end.
    for (let i = 1; i <= this.count && (tail <= 0 || out.length < tail); i++) {
      const line = this.lines[(this.next - i + this.capacity) % this.capacity];
      if (line !== undefined && matchesLog(line, filter)) out.push(line);
    }
    out.reverse();
    if (filter.run !== undefined && filter.run !== 0) return out;
    for (const stream of ["stdout", "stderr"] as const) {
      const { bytes, at } = this.droppedBytes[stream];
      if (bytes === 0) continue;
      out.push({
        instanceId: this.instanceId,
        stream,
        text: `[wasmatrix: ${bytes} bytes of ${stream} dropped in all, over the output cap]`,
        at,
        run: this.run,
      });
    }
    return out;
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Gives every kept byte back to the node's budget (the instance is gone for good). */
  release(): void {
    while (this.count > 0) this.evictOldest();
  }

  private endPartial(stream: LogStream): void {
    const partial = this.partial[stream];
    if (partial.length === 0 && !partial.cut) return;
    this.push(stream, lineText(partial.view, partial.cut));
    partial.reset();
  }

  private push(stream: LogStream, text: string): void {
    const line: LogLine = { instanceId: this.instanceId, stream, text, at: this.now(), run: this.run };
    if (this.capacity > 0) this.keep(line);
    for (const listener of this.listeners) listener(line);
  }

  private keep(line: LogLine): void {
    // Two bytes a character: V8 stores a string with any non-Latin-1 character that way.
    const cost = line.text.length * 2 + LINE_OVERHEAD_BYTES;
    if (cost > this.maxBytes) return;
    if (this.count === this.capacity) this.evictOldest();
    while (this.count > 0 && this.bytes + cost > this.maxBytes) this.evictOldest();
    const budget = this.options.budget;
    while (budget !== undefined && !budget.tryReserve(cost)) {
      if (this.count === 0) {
        this.droppedLines++;
        return;
      }
      this.evictOldest();
    }
    this.lines[this.next] = line;
    this.costs[this.next] = cost;
    this.next = (this.next + 1) % this.capacity;
    this.count++;
    this.bytes += cost;
  }

  private evictOldest(): void {
    const index = (this.next - this.count + this.capacity) % this.capacity;
    const cost = this.costs[index]!;
    this.lines[index] = undefined;
    this.costs[index] = 0;
    this.count--;
    this.bytes -= cost;
    this.options.budget?.release(cost);
  }
}

/** A fresh string (decoding copies), with the cut mark when the line was longer than kept. */
function lineText(bytes: Uint8Array, cut: boolean): string {
  const text = decoder.decode(bytes);
  return cut ? `${text}…` : text;
}

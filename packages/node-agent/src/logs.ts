export type LogStream = "stdout" | "stderr";

export interface LogLine {
  instanceId: string;
  stream: LogStream;
  text: string;
  at: number;
}

type Listener = (line: LogLine) => void;

const MAX_LINE_CHARS = 8 * 1024;

/**
 * The newest lines an instance printed, kept across its restarts so `logs` shows why it crashed.
 * Bounded in lines and line length; a line without its newline yet waits (bounded too) for the
 * rest of it.
 */
export class LogBuffer {
  private readonly lines: (LogLine | undefined)[];
  private next = 0;
  private count = 0;
  private readonly partial: Record<LogStream, string> = { stdout: "", stderr: "" };
  private readonly listeners = new Set<Listener>();
  private readonly decoders = { stdout: new TextDecoder(), stderr: new TextDecoder() };

  constructor(
    readonly instanceId: string,
    readonly capacity: number,
    private readonly now: () => number = Date.now,
  ) {
    this.lines = new Array(capacity);
  }

  write(stream: LogStream, bytes: Uint8Array): void {
    const text = this.partial[stream] + this.decoders[stream].decode(bytes, { stream: true });
    const parts = text.split("\n");
    this.partial[stream] = (parts.pop() ?? "").slice(-MAX_LINE_CHARS);
    for (const part of parts) this.push(stream, part);
  }

  /** Emits any unfinished lines (when an instance ends). */
  flush(): void {
    for (const stream of ["stdout", "stderr"] as const) {
      if (this.partial[stream] !== "") this.push(stream, this.partial[stream]);
      this.partial[stream] = "";
    }
  }

  /** Retained lines, oldest first; `tail` keeps only the last so many. */
  read(tail = 0): LogLine[] {
    const out: LogLine[] = [];
    const n = tail > 0 ? Math.min(tail, this.count) : this.count;
    for (let i = n; i > 0; i--) {
      const line = this.lines[(this.next - i + this.capacity) % this.capacity];
      if (line !== undefined) out.push(line);
    }
    return out;
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private push(stream: LogStream, text: string): void {
    const line: LogLine = {
      instanceId: this.instanceId,
      stream,
      text: text.length > MAX_LINE_CHARS ? `${text.slice(0, MAX_LINE_CHARS)}…` : text,
      at: this.now(),
    };
    if (this.capacity > 0) {
      this.lines[this.next] = line;
      this.next = (this.next + 1) % this.capacity;
      this.count = Math.min(this.count + 1, this.capacity);
    }
    for (const listener of this.listeners) listener(line);
  }
}

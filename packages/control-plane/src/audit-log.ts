import {
  appendFileSync,
  closeSync,
  constants,
  fstatSync,
  fsync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { readFile, stat, unlink } from "node:fs/promises";
import { dirname } from "node:path";
import { promisify } from "node:util";
import {
  type AuditEntry,
  type AuditRecord,
  type Caller,
  chainLine,
  describeCaller,
  ErrorCode,
  nextLink,
  parseAuditLine,
  verifyAuditChain,
  WasmatrixError,
} from "@wasmatrix/core";
import { type Logger, silentLogger } from "@wasmatrix/core/logger";

/** What an action hands the audit log; `who` is made from `caller` with describeCaller. */
export interface AuditInput extends Omit<AuditRecord, "who"> {
  caller: Caller;
}

/** The hook every control action (and the authorization of sec-tokens) calls. */
export interface Audit {
  append(input: AuditInput): Promise<void>;
}

export interface AuditFilter {
  tenant?: string;
  sinceMs?: number;
  /** The newest this many. */
  limit?: number;
}

export interface AuditLogOptions {
  logger?: Logger;
  now?: () => number;
  /** How long an append waits for another process's lock on the file. @default LOCK_TIMEOUT_MS */
  lockTimeoutMs?: number;
}

export const AUDIT_FILE_NAME = "audit.jsonl";
const fsyncAsync = promisify(fsync);
const LOCK_TIMEOUT_MS = 5_000;
const LOCK_RETRY_MS = 5;
/** The tail read to find the last line; entries are far shorter, and a longer read goes on back. */
const TAIL_CHUNK_BYTES = 16 * 1024;

/**
 * The control plane's audit log: one JSON line per control action, hash-chained (core's
 * audit-chain.ts), fsync'd before `append` resolves. Each append takes the file's lock, reads
 * the last line for the chain's head and writes after it, so a restarted control plane goes on
 * with its chain, and two processes pointed at one state dir by mistake still leave one valid
 * chain. A last line torn by a crash is moved to `<file>.torn` and reported, never chained onto.
 */
export class AuditLog implements Audit {
  private queue: Promise<void> = Promise.resolve();
  private readonly logger: Logger;
  private readonly now: () => number;
  private dirReady = false;
  /** The file's size after our last append, and the link the next line takes after it. */
  private last: { size: number; next: { prev: string; seq: number } } | null = null;

  constructor(
    readonly path: string,
    private readonly options: AuditLogOptions = {},
  ) {
    this.logger = options.logger ?? silentLogger;
    this.now = options.now ?? Date.now;
  }

  append(input: AuditInput): Promise<void> {
    const { caller, ...rest } = input;
    const record: AuditRecord = { who: describeCaller(caller), ...rest };
    // In order of the calls: the chain is a sequence even when actions overlap.
    const done = this.queue.then(() => this.write(record));
    this.queue = done.catch(() => undefined);
    return done.catch((error: unknown) => {
      this.logger.error({ path: this.path, error: (error as Error).message }, "audit entry not written");
      throw new WasmatrixError(
        ErrorCode.INTERNAL,
        `the audit log ${this.path} could not be written: ${(error as Error).message}`,
        { path: this.path },
        { cause: error },
      );
    });
  }

  /** Entries oldest first, filtered; lines that are not entries (a broken chain) are skipped. */
  async read(filter: AuditFilter = {}): Promise<{ entries: AuditEntry[]; head: string }> {
    const text = await readFile(this.path, "utf8").catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return "";
      throw error;
    });
    const lines = text.split("\n").filter((line) => line !== "");
    let entries = lines.map(parseAuditLine).filter((e): e is AuditEntry => e !== null);
    const verdict = verifyAuditChain(text);
    const head = entries.at(-1)?.hash ?? (verdict.ok ? verdict.head : "");
    if (filter.tenant !== undefined && filter.tenant !== "") {
      entries = entries.filter((e) => e.tenant === filter.tenant);
    }
    if (filter.sinceMs !== undefined && filter.sinceMs > 0) {
      entries = entries.filter((e) => e.at >= (filter.sinceMs ?? 0));
    }
    if (filter.limit !== undefined && filter.limit > 0) entries = entries.slice(-filter.limit);
    return { entries, head };
  }

  private async write(record: AuditRecord): Promise<void> {
    if (!this.dirReady) {
      mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
      this.dirReady = true;
    }
    const release = await this.lock();
    let fd: number | null = null;
    try {
      fd = openSync(this.path, constants.O_RDWR | constants.O_APPEND | constants.O_CREAT, 0o600);
      const size = fstatSync(fd).size;
      // Our own last append is still the end of the file: its link is known without reading.
      const link =
        this.last !== null && this.last.size === size
          ? this.last.next
          : nextLink(this.lastCompleteLine(fd, size));
      const line = Buffer.from(`${chainLine(record, { ...link, at: this.now() })}\n`);
      writeSync(fd, line);
      await fsyncAsync(fd);
      this.last = { size: size + line.length, next: nextLink(line.subarray(0, -1).toString("utf8")) };
    } catch (error) {
      this.last = null;
      throw error;
    } finally {
      if (fd !== null) closeSync(fd);
      release();
    }
  }

  /** The file's last complete line; a torn tail after it is moved aside first. */
  private lastCompleteLine(fd: number, size: number): string | undefined {
    if (size === 0) return undefined;
    let start = size;
    let tail = Buffer.alloc(0);
    // Back from the end until the newline before the last complete line, or the file's start.
    for (;;) {
      const from = Math.max(0, start - TAIL_CHUNK_BYTES);
      const chunk = Buffer.alloc(start - from);
      readSync(fd, chunk, 0, chunk.length, from);
      tail = Buffer.concat([chunk, tail]);
      start = from;
      const lastNewline = tail.lastIndexOf(0x0a);
      const complete = newlineBefore(tail, lastNewline);
      if (complete !== -1 || start === 0) break;
    }
    const lastNewline = tail.lastIndexOf(0x0a);
    if (lastNewline !== tail.length - 1) {
      const torn = tail.subarray(lastNewline + 1);
      appendFileSync(`${this.path}.torn`, Buffer.concat([torn, Buffer.from("\n")]), { mode: 0o600 });
      ftruncateSync(fd, start + lastNewline + 1);
      fsyncSync(fd);
      this.logger.warn(
        { path: this.path, bytes: torn.length, movedTo: `${this.path}.torn` },
        "the audit log's last line was incomplete (torn by a crash); it was moved aside and the chain goes on from the line before",
      );
      if (lastNewline === -1) return undefined;
    }
    const before = newlineBefore(tail, lastNewline);
    return tail.subarray(before + 1, lastNewline).toString("utf8");
  }

  /**
   * A lock file beside the log, holding the owner's pid; a dead owner's lock is taken over. The
   * file operations under it are synchronous (each a few microseconds on a local file) so that
   * the lock is held for as short a time as possible; only the fsync is waited for off the loop.
   */
  private async lock(): Promise<() => void> {
    const path = `${this.path}.lock`;
    const deadline = Date.now() + (this.options.lockTimeoutMs ?? LOCK_TIMEOUT_MS);
    for (;;) {
      try {
        const fd = openSync(path, "wx", 0o600);
        writeSync(fd, String(process.pid));
        closeSync(fd);
        return () => {
          try {
            unlinkSync(path);
          } catch {
            // gone already: taken over as abandoned
          }
        };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      }
      const owner = Number.parseInt(await readFile(path, "utf8").catch(() => ""), 10);
      // No pid: its owner died between creating and writing it, or is writing it right now.
      const abandoned = Number.isNaN(owner)
        ? await olderThan(path, 1_000)
        : owner !== process.pid && !alive(owner);
      if (abandoned) {
        await unlink(path).catch(() => undefined);
        continue;
      }
      if (Date.now() > deadline) {
        throw new Error(`${path} is held by process ${Number.isNaN(owner) ? "?" : owner}`);
      }
      await new Promise((resolve) => setTimeout(resolve, LOCK_RETRY_MS));
    }
  }
}

function newlineBefore(bytes: Buffer, at: number): number {
  return at <= 0 ? -1 : bytes.lastIndexOf(0x0a, at - 1);
}

async function olderThan(path: string, ms: number): Promise<boolean> {
  const info = await stat(path).catch(() => null);
  return info !== null && Date.now() - info.mtimeMs > ms;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

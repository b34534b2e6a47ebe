import { constants } from "node:fs";
import { appendFile, type FileHandle, mkdir, open, readFile, stat, unlink } from "node:fs/promises";
import { dirname } from "node:path";
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
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    const release = await this.lock();
    let file: FileHandle | null = null;
    try {
      file = await open(this.path, constants.O_RDWR | constants.O_APPEND | constants.O_CREAT, 0o600);
      const last = await this.lastCompleteLine(file);
      const line = chainLine(record, { ...nextLink(last), at: this.now() });
      await file.write(`${line}\n`);
      await file.sync();
    } finally {
      await file?.close();
      await release();
    }
  }

  /** The file's last complete line; a torn tail after it is moved aside first. */
  private async lastCompleteLine(file: FileHandle): Promise<string | undefined> {
    const { size } = await file.stat();
    if (size === 0) return undefined;
    let start = size;
    let tail = Buffer.alloc(0);
    // Back from the end until the newline before the last complete line, or the file's start.
    for (;;) {
      const from = Math.max(0, start - TAIL_CHUNK_BYTES);
      const chunk = Buffer.alloc(start - from);
      await file.read(chunk, 0, chunk.length, from);
      tail = Buffer.concat([chunk, tail]);
      start = from;
      const lastNewline = tail.lastIndexOf(0x0a);
      const complete = newlineBefore(tail, lastNewline);
      if (complete !== -1 || start === 0) break;
    }
    const lastNewline = tail.lastIndexOf(0x0a);
    if (lastNewline !== tail.length - 1) {
      const torn = tail.subarray(lastNewline + 1);
      await appendFile(`${this.path}.torn`, Buffer.concat([torn, Buffer.from("\n")]), { mode: 0o600 });
      await file.truncate(start + lastNewline + 1);
      await file.sync();
      this.logger.warn(
        { path: this.path, bytes: torn.length, movedTo: `${this.path}.torn` },
        "the audit log's last line was incomplete (torn by a crash); it was moved aside and the chain goes on from the line before",
      );
      if (lastNewline === -1) return undefined;
    }
    const before = newlineBefore(tail, lastNewline);
    return tail.subarray(before + 1, lastNewline).toString("utf8");
  }

  /** A lock file beside the log, holding the owner's pid; a dead owner's lock is taken over. */
  private async lock(): Promise<() => Promise<void>> {
    const path = `${this.path}.lock`;
    const deadline = Date.now() + (this.options.lockTimeoutMs ?? LOCK_TIMEOUT_MS);
    for (;;) {
      try {
        const handle = await open(path, "wx", 0o600);
        await handle.write(String(process.pid));
        await handle.close();
        return () => unlink(path).catch(() => undefined);
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

/** The index of the newline before index `at` (-1 when none); lastIndexOf would wrap a negative offset. */
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

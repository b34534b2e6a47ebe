import { createHash } from "node:crypto";

/**
 * The audit log's hash chain (docs/security.md, "Audit log"). Each entry is one line of JSON
 * whose last two members are `prev` (the previous entry's `hash`; GENESIS_HASH for the first)
 * and `hash`, the sha256 of the line's own bytes up to `,"hash":`. The hash is over the exact
 * bytes written, so verifying needs no canonical JSON: any changed byte of a line breaks that
 * line's own hash, and a deleted, inserted or moved line breaks the `prev` of the line after
 * the gap. Pure: text in, text or a verdict out; the file is the control plane's.
 */

export const GENESIS_HASH = "0".repeat(64);

/** What happened, as an action's caller hands it to `audit.append`. */
export interface AuditRecord {
  /** `describeCaller(caller)`: `token:<id>`, `node:<id>`, …, `anonymous`. */
  who: string;
  /** `instance.start`, `capability.assign`, `token.create`, `node.register`, `call.refused`… */
  action: string;
  /** What it acted on: an instance, node or token id; empty when nothing in particular. */
  target: string;
  /** `ok`, or `refused` / `failed` with the error code in `details.code`. */
  outcome: "ok" | "refused" | "failed";
  /** The tenant of what it acted on; absent for cluster-wide actions (nodes, providers). */
  tenant?: string;
  details?: Record<string, unknown>;
}

export interface AuditEntry extends AuditRecord {
  /** 1 for the first line of the file, then one more per line. */
  seq: number;
  /** Milliseconds since the epoch. */
  at: number;
  prev: string;
  hash: string;
}

const HASH_MARK = ',"hash":"';
const HASH_SUFFIX_LENGTH = HASH_MARK.length + 64 + 2;

/** The line (no newline) that follows an entry whose hash is `prev`, as line number `seq`. */
export function chainLine(record: AuditRecord, chain: { prev: string; seq: number; at: number }): string {
  const body = JSON.stringify({
    seq: chain.seq,
    at: chain.at,
    who: record.who,
    action: record.action,
    target: record.target,
    outcome: record.outcome,
    ...(record.tenant === undefined ? {} : { tenant: record.tenant }),
    details: record.details ?? {},
    prev: chain.prev,
  });
  const head = `${body.slice(0, -1)}${HASH_MARK}`;
  return `${head}${sha256(head)}"}`;
}

export type AuditVerdict =
  | { ok: true; entries: number; head: string }
  | { ok: false; line: number; reason: string; entries: number };

/**
 * Checks a whole audit file's text. `line` is 1-based: the first line whose own hash, `prev`
 * or sequence number does not hold. A last line without its newline was torn by a crash while
 * it was written and counts as broken too (a control plane moves it aside when it opens the file).
 */
export function verifyAuditChain(text: string): AuditVerdict {
  if (text === "") return { ok: true, entries: 0, head: GENESIS_HASH };
  const lines = text.split("\n");
  const torn = lines.pop() !== "";
  let prev = GENESIS_HASH;
  for (let i = 0; i < lines.length; i++) {
    const problem = checkLine(lines[i]!, prev, i + 1);
    if (problem !== null) return { ok: false, line: i + 1, reason: problem, entries: i };
    prev = lines[i]!.slice(-HASH_SUFFIX_LENGTH + HASH_MARK.length, -2);
  }
  if (torn) {
    return {
      ok: false,
      line: lines.length + 1,
      reason: "the last line is incomplete (torn by a crash while it was written)",
      entries: lines.length,
    };
  }
  return { ok: true, entries: lines.length, head: prev };
}

/** The entry a line holds, or null when it is not an audit line (verify says why). */
export function parseAuditLine(line: string): AuditEntry | null {
  try {
    const value = JSON.parse(line) as AuditEntry;
    return typeof value === "object" && value !== null && typeof value.hash === "string" ? value : null;
  } catch {
    return null;
  }
}

/** Where the next line goes: after the last complete line (`undefined` for an empty file). */
export function nextLink(lastLine: string | undefined): { prev: string; seq: number } {
  if (lastLine === undefined) return { prev: GENESIS_HASH, seq: 1 };
  const entry = parseAuditLine(lastLine);
  // A broken last line stays broken for `verify`; the chain goes on from its bytes regardless.
  return {
    prev: entry?.hash ?? sha256(lastLine),
    seq: typeof entry?.seq === "number" ? entry.seq + 1 : 1,
  };
}

function checkLine(line: string, prev: string, seq: number): string | null {
  const hashAt = line.length - HASH_SUFFIX_LENGTH;
  if (hashAt <= 0 || line.slice(hashAt, hashAt + HASH_MARK.length) !== HASH_MARK || !line.endsWith('"}')) {
    return "not an audit entry (no hash at its end)";
  }
  const head = line.slice(0, hashAt + HASH_MARK.length);
  const stated = line.slice(hashAt + HASH_MARK.length, -2);
  if (sha256(head) !== stated) return "its hash does not match its content (the line was changed)";
  const entry = parseAuditLine(line);
  if (entry === null) return "not valid JSON";
  if (entry.prev !== prev) {
    return "its prev does not name the line before (a line was removed, inserted or moved before it)";
  }
  if (entry.seq !== seq) return `its sequence number is ${String(entry.seq)}, expected ${seq}`;
  return null;
}

function sha256(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

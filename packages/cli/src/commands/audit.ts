import { readFile } from "node:fs/promises";
import { verifyAuditChain } from "@wasmatrix/core";
import type * as pb from "@wasmatrix/proto";
import { type Command, Option } from "commander";
import { type ServerOptions, withClient, withServerOption } from "../connection.js";
import { UsageError } from "../failure.js";
import { unreadable } from "../files.js";
import { localAction } from "../local-action.js";
import { parsePositive, usage } from "../options.js";
import { print, printError, printJson } from "../output.js";
import { auditFileIn, defaultStateDir, stateDirOption } from "../security-options.js";
import { formatTable } from "../table.js";
import { formatTimestamp } from "../time-format.js";
import { parseDuration } from "../units.js";

interface AuditOptions extends ServerOptions {
  tenant?: string;
  since?: number;
  limit?: number;
  json?: boolean;
}

interface VerifyOptions {
  file?: string;
  stateDir?: string;
  json?: boolean;
}

/** `--since`: an ISO time (`2026-12-01T10:00:00Z`) or how long ago (`90m`, `2h`). */
export function parseSince(text: string, nowMs = Date.now()): number {
  if (/^\d{4}-\d{2}-\d{2}/.test(text)) {
    const at = Date.parse(text);
    if (Number.isNaN(at)) throw new Error(`not a time: ${text} (use e.g. 2026-12-01T10:00:00Z)`);
    return at;
  }
  return nowMs - parseDuration(text);
}

export function registerAudit(program: Command): void {
  const audit = withServerOption(
    program
      .command("audit")
      .description("Read the control plane's audit log: who did what, when, and how it ended")
      .option("--tenant <tenant>", "only entries about this tenant's instances")
      .addOption(
        new Option(
          "--since <time|duration>",
          "only entries since then: an ISO time, or e.g. 2h for the last two hours",
        ).argParser(usage((text) => parseSince(text))),
      )
      .option("--limit <n>", "the newest N entries (default 1000)", parsePositive)
      .option("--json", "print the entries as a JSON array")
      .addHelpText(
        "after",
        `
Every control action (start, stop, capability assign and revoke, node register and deregister,
refused calls) is one line of the control plane's <state dir>/audit.jsonl, with who (token id,
certificate identity or \`anonymous\`), what, when and the outcome, each line carrying the hash
of the line before. \`wasmatrix audit verify\` checks that chain on the file itself.

Examples:
  wasmatrix audit
  wasmatrix audit --since 2h --tenant acme
  wasmatrix audit --json | jq -c '.[] | select(.outcome != "ok")'
  wasmatrix audit verify --file /var/lib/wasmatrix/audit.jsonl`,
      ),
  ).action(async (options: AuditOptions) => {
    await withClient(options, {}, async (client) => {
      const answer = await client.readAudit({
        tenant: options.tenant ?? "",
        sinceMs: options.since ?? 0,
        limit: options.limit ?? 0,
      });
      if (!answer.enabled) {
        printError(
          "hint: this server keeps no audit log (an embedded cluster run as a library, without a state dir)\n",
        );
      }
      if (options.json) printJson(answer.entries.map(entryJson));
      else if (answer.entries.length > 0) print(auditTable(answer.entries));
      else if (answer.enabled) print("no audit entries match\n");
    });
  });

  audit
    .command("verify")
    .description("Check the audit log's hash chain; exit 1 naming the first broken line")
    .option("--file <file>", "the audit file; default <state dir>/audit.jsonl")
    .addOption(stateDirOption())
    .option("--json", "print { ok, file, entries, head } or { ok, file, line, reason }")
    .addHelpText(
      "after",
      `
Reads the file directly, no server needed. Exit 0: every line's own hash matches its content and
names the line before. Exit 1: the first line where that fails (edited, removed, inserted, moved,
or torn by a crash) is named. A removal of the newest lines cannot be seen from the file alone:
compare the head it prints with one recorded elsewhere (\`wasmatrix audit --json\` gives each hash).

Examples:
  wasmatrix audit verify
  wasmatrix audit verify --file ./audit.jsonl --json`,
    )
    .action((options: VerifyOptions) =>
      localAction(async () => {
        const file = options.file ?? auditFileIn(options.stateDir ?? defaultStateDir());
        let text: string;
        try {
          text = await readFile(file, "utf8");
        } catch (error) {
          const { message, hint } = unreadable(file, error);
          throw new UsageError(message, hint ?? "name the audit file with --file");
        }
        const verdict = verifyAuditChain(text);
        if (options.json) printJson({ file, ...verdict });
        else if (verdict.ok) {
          print(`${file}: ${verdict.entries} entries; the chain holds (head ${verdict.head})\n`);
        } else {
          print(`${file}: line ${verdict.line} is broken: ${verdict.reason}\n`);
        }
        return verdict.ok ? 0 : 1;
      }),
    );
}

function entryJson(entry: pb.AuditEntryMessage) {
  return {
    seq: entry.seq,
    at: new Date(entry.atMs).toISOString(),
    who: entry.who,
    action: entry.action,
    target: entry.target,
    outcome: entry.outcome,
    ...(entry.tenant === "" ? {} : { tenant: entry.tenant }),
    details: JSON.parse(entry.detailsJson || "{}") as unknown,
    prev: entry.prev,
    hash: entry.hash,
  };
}

function auditTable(entries: readonly pb.AuditEntryMessage[]): string {
  return formatTable(
    [{ header: "SEQ", align: "right" }, "TIME", "WHO", "ACTION", "TARGET", "OUTCOME", "DETAILS"],
    entries.map((e) => [
      e.seq,
      formatTimestamp(e.atMs),
      e.who,
      e.action,
      e.target,
      e.outcome,
      e.detailsJson === "{}" ? "" : e.detailsJson,
    ]),
  );
}

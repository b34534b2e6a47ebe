import { logsRequest } from "@wasmatrix/client";
import { parseDurationMs } from "@wasmatrix/core";
import type * as pb from "@wasmatrix/proto";
import type { Command } from "commander";
import { type ServerOptions, withClient, withServerOption } from "../connection.js";
import { logLineJson } from "../json.js";
import { parsePositive, usage } from "../options.js";
import { interruptSignal, printError, printJsonLine } from "../output.js";
import { formatTimestamp } from "../time-format.js";

interface LogsOptions extends ServerOptions {
  follow?: boolean;
  tail?: number;
  timestamps?: boolean;
  json?: boolean;
  run?: number;
  since?: number;
  grep?: string;
}

/**
 * `--since`: a duration back from now (`10m`, `1h`, `30s`) or a date and time that Date.parse
 * reads (`2026-01-31T12:00:00Z`). Returns ms since the epoch.
 */
export function parseSince(text: string, now: number = Date.now()): number {
  if (/^\s*\d+(\.\d+)?\s*[a-z]*\s*$/i.test(text)) return now - parseDurationMs(text, "--since");
  const at = Date.parse(text);
  if (Number.isNaN(at)) {
    throw new Error(
      `--since wants a duration back from now (10m, 2h) or a time (2026-01-31T12:00:00Z), not '${text}'`,
    );
  }
  return at;
}

export function registerLogs(program: Command): void {
  withServerOption(
    program
      .command("logs")
      .description(
        "Print what an instance wrote to stdout and stderr, and what it logged through the logging capability",
      )
      .argument("<id>", "instance id")
      .option("-f, --follow", "keep printing new lines until interrupted (Ctrl-C)")
      .option("-n, --tail <n>", "only the last n retained lines", parsePositive)
      .option("-t, --timestamps", "prefix each line with the time it was written")
      .option(
        "--run <n>",
        "only the lines of run n (1 is the first run, 2 the run after the first restart…)",
        parsePositive,
      )
      .option(
        "--since <duration|time>",
        "only lines written since then: 10m, 2h, or 2026-01-31T12:00:00Z",
        usage(parseSince),
      )
      .option("--grep <text>", "only lines containing this text (plain text, not a pattern)")
      .option("--json", "print one JSON object per line: { instanceId, run, stream, text, atMs }")
      .addHelpText(
        "after",
        `
The node keeps a bounded number of lines per instance (1000 by default, and at most twice the
instance's output cap in bytes), across its restarts, so the lines before a crash are still
there. Each line belongs to a run: 1 for the first, one more after each restart; a line
"--- run N ---" marks where a run begins, and --run picks one. Lines the guest wrote to stderr
go to stderr, the others to stdout. --tail counts after --run, --since and --grep.

Examples:
  wasmatrix logs echo
  wasmatrix logs worker --tail 50 --follow
  wasmatrix logs worker --run 3                  # what the third run wrote (before its crash?)
  wasmatrix logs worker --since 10m --grep timeout
  wasmatrix logs worker --json | jq -r 'select(.stream == "stderr") | .text'`,
      ),
  ).action(async (id: string, options: LogsOptions) => {
    const interrupt = interruptSignal();
    try {
      await withClient(options, { instanceId: id }, async (client) => {
        const request = logsRequest(id, {
          follow: options.follow === true,
          tail: options.tail ?? 0,
          run: options.run ?? 0,
          sinceMs: options.since ?? 0,
          grep: options.grep ?? "",
        });
        let lines = 0;
        let run = 0;
        for await (const line of client.streamLogs(request, interrupt.signal)) {
          lines++;
          if (options.json) {
            printJsonLine(logLineJson(line));
            continue;
          }
          // The first run's lines need no heading: an instance that never restarted reads as before.
          if (line.run !== run && (run !== 0 || line.run > 1))
            process.stdout.write(`--- run ${line.run} ---\n`);
          run = line.run;
          writeLine(line, options.timestamps === true);
        }
        // Nothing at all reads like a broken command; say so, on stderr so pipes stay clean.
        if (lines === 0 && !options.follow && !options.json) {
          const filtered =
            options.run !== undefined || options.since !== undefined || options.grep !== undefined;
          printError(
            filtered
              ? `no log lines from '${id}' match --run, --since or --grep; see every retained line with: wasmatrix logs ${id}\n`
              : `no log lines from '${id}' yet (stdout, stderr and the logging capability); wait for them with: wasmatrix logs ${id} --follow\n`,
          );
        }
      });
    } finally {
      interrupt.release();
    }
  });
}

function writeLine(line: pb.LogLine, timestamps: boolean): void {
  const text = `${timestamps ? `${formatTimestamp(line.atMs)} ` : ""}${line.text}\n`;
  (line.stream === "stderr" ? process.stderr : process.stdout).write(text);
}

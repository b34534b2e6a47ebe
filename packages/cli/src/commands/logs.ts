import type * as pb from "@wasmatrix/proto";
import type { Command } from "commander";
import { type ServerOptions, withClient, withServerOption } from "../connection.js";
import { logLineJson } from "../json.js";
import { parsePositive } from "../options.js";
import { interruptSignal, printError, printJsonLine } from "../output.js";
import { formatTimestamp } from "../time-format.js";

interface LogsOptions extends ServerOptions {
  follow?: boolean;
  tail?: number;
  timestamps?: boolean;
  json?: boolean;
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
      .option("--json", "print one JSON object per line: { instanceId, stream, text, atMs }")
      .addHelpText(
        "after",
        `
The node keeps a bounded number of lines per instance, across its restarts, so the lines before
a crash are still there. Lines the guest wrote to stderr go to stderr, the others to stdout.

Examples:
  wasmatrix logs echo
  wasmatrix logs worker --tail 50 --follow
  wasmatrix logs worker --json | jq -r 'select(.stream == "stderr") | .text'`,
      ),
  ).action(async (id: string, options: LogsOptions) => {
    const interrupt = interruptSignal();
    try {
      await withClient(options, { instanceId: id }, async (client) => {
        const request = { instanceId: id, follow: options.follow === true, tail: options.tail ?? 0 };
        let lines = 0;
        for await (const line of client.streamLogs(request, interrupt.signal)) {
          lines++;
          if (options.json) printJsonLine(logLineJson(line));
          else writeLine(line, options.timestamps === true);
        }
        // Nothing at all reads like a broken command; say so, on stderr so pipes stay clean.
        if (lines === 0 && !options.follow && !options.json) {
          printError(
            `no log lines from '${id}' yet (stdout, stderr and the logging capability); wait for them with: wasmatrix logs ${id} --follow\n`,
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

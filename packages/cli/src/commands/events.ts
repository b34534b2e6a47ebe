import { watchRequest } from "@wasmatrix/client";
import type { Command } from "commander";
import { type ServerOptions, withClient, withServerOption } from "../connection.js";
import { factJson } from "../json.js";
import { parseNonNegative } from "../options.js";
import { interruptSignal, print, printJsonLine } from "../output.js";
import { factHeader, factLine } from "../render.js";

interface EventsOptions extends ServerOptions {
  follow?: boolean;
  after?: number;
  instance?: string;
  kind?: string[];
  json?: boolean;
}

export function registerEvents(program: Command): void {
  withServerOption(
    program
      .command("events")
      .description("Print execution facts: what the cluster recorded as it happened")
      .option("-f, --follow", "keep printing new facts until interrupted (Ctrl-C)")
      .option(
        "--after <seq>",
        "only facts after this sequence number (resume from the last one seen)",
        parseNonNegative,
      )
      .option("--instance <id>", "only facts about this instance")
      .option(
        "--kind <kind>",
        "only facts of this kind, e.g. instance.crashed (repeatable)",
        (value: string, previous: string[] | undefined) => [...(previous ?? []), value],
      )
      .option("--json", "print one JSON object per line")
      .addHelpText(
        "after",
        `
Under a header row, each line is: SEQ TIME KIND INSTANCE NODE DATA (ids longer than their column
are cut with …; --json has them whole). Without --follow it prints the facts the server still
holds (a bounded window) and exits. Kinds: instance.started, instance.stopped,
instance.completed, instance.crashed, instance.restarted, instance.restarts_exhausted,
instance.lost, instance.pending, node.registered, node.lost, capability.assigned, capability.revoked.

Examples:
  wasmatrix events
  wasmatrix events --follow --instance echo
  wasmatrix events --kind instance.crashed --kind instance.restarted
  wasmatrix events --json --after 120 | jq -c 'select(.kind == "instance.crashed") | .data'`,
      ),
  ).action(async (options: EventsOptions) => {
    const interrupt = interruptSignal();
    try {
      await withClient(options, {}, async (client) => {
        const request = watchRequest({
          afterSeq: options.after ?? 0,
          instanceId: options.instance ?? "",
          kinds: options.kind ?? [],
          noFollow: !options.follow,
        });
        // After the first fact, not before: a server that does not answer leaves stdout empty.
        let headed = false;
        for await (const fact of client.watchEvents(request, interrupt.signal)) {
          if (options.json) printJsonLine(factJson(fact));
          else {
            if (!headed) print(`${factHeader()}\n`);
            headed = true;
            print(`${factLine(fact)}\n`);
          }
        }
      });
    } finally {
      interrupt.release();
    }
  });
}

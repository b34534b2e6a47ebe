import { stopRequest } from "@wasmatrix/client";
import type { Command } from "commander";
import { GUEST_TIMEOUT_MS, type ServerOptions, withClient, withServerOption } from "../connection.js";
import { instanceJson } from "../json.js";
import { parseMs } from "../options.js";
import { print, printJson } from "../output.js";
import { instancesTable } from "../render.js";

interface StopOptions extends ServerOptions {
  deadline?: number;
  json?: boolean;
}

export function registerStop(program: Command): void {
  withServerOption(
    program
      .command("stop")
      .description("Stop an instance gracefully; force it once the deadline passes")
      .argument("<id>", "instance id")
      .option(
        "--deadline <duration>",
        "how long in-flight invocations (or a command's run) may take to finish before the stop is forced, e.g. 10s; default 5s",
        parseMs,
      )
      .option("--json", "print the stopped instance as JSON")
      .addHelpText(
        "after",
        `
A stopped instance is not restarted, whatever its restart policy; a pending restart is cancelled.
It stays listed by \`wasmatrix ps --all\` and can be inspected. \`wasmatrix start --id <id>\` starts it
again as it was (same module, args, capabilities…). A pending instance (waiting for a node) is
stopped at once.

Examples:
  wasmatrix stop echo
  wasmatrix stop worker --deadline 30s`,
      ),
  ).action(async (id: string, options: StopOptions) => {
    await withClient(options, { instanceId: id, timeoutMs: GUEST_TIMEOUT_MS }, async (client) => {
      const instance = await client.stopInstance(stopRequest(id, options.deadline ?? 0));
      if (options.json) printJson(instanceJson(instance));
      else print(instancesTable([instance], Date.now()));
    });
  });
}

import { listRequest } from "@wasmatrix/client";
import type { Command } from "commander";
import { type ServerOptions, withClient, withServerOption } from "../connection.js";
import { instanceJson } from "../json.js";
import { print, printJson } from "../output.js";
import { ENDED_STATUSES, instancesTable } from "../render.js";

interface PsOptions extends ServerOptions {
  node?: string;
  status?: string;
  all?: boolean;
  json?: boolean;
}

export function registerPs(program: Command): void {
  withServerOption(
    program
      .command("ps")
      .description("List instances (stopped and completed ones only with --all)")
      .option("-a, --all", "include instances that have ended (stopped, completed)")
      .option("--node <id>", "only instances placed on this node")
      .option(
        "--status <status>",
        "only instances with this status: pending, starting, running, stopping, stopped, completed, crashed, restarting, lost",
      )
      .option("--json", "print a JSON array")
      .addHelpText(
        "after",
        `
Columns: ID, STATUS, KIND (command or reactor), NODE, RESTARTS (over the instance's life), AGE
(since it was created), DIGEST (first 12 hex digits of the module's sha256). Crashed instances are
listed by default: a crash is something to look at (\`wasmatrix inspect <id>\`).

Examples:
  wasmatrix ps
  wasmatrix ps --all
  wasmatrix ps --status crashed
  wasmatrix ps --json | jq -r '.[].instanceId'`,
      ),
  ).action(async (options: PsOptions) => {
    await withClient(options, {}, async (client) => {
      const { instances } = await client.listInstances(
        listRequest({ nodeId: options.node ?? "", status: options.status ?? "" }),
      );
      // An explicit --status asks for those instances, ended or not.
      const shown =
        options.all || options.status !== undefined
          ? instances
          : instances.filter((i) => !ENDED_STATUSES.has(i.status));
      if (options.json) printJson(shown.map(instanceJson));
      else print(instancesTable(shown, Date.now()));
    });
  });
}

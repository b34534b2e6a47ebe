import type { Command } from "commander";
import { type ServerOptions, withClient, withServerOption } from "../connection.js";
import { factJson, instanceJson } from "../json.js";
import { parsePositive } from "../options.js";
import { print, printJson } from "../output.js";
import { instanceDetails } from "../render.js";

interface InspectOptions extends ServerOptions {
  facts?: number;
  json?: boolean;
}

/** As many facts as the server sends when asked for none in particular. */
const DEFAULT_FACTS = 20;

export function registerInspect(program: Command): void {
  withServerOption(
    program
      .command("inspect")
      .description(
        "Show one instance in full: status, placement, module, restart policy, limits, assignments, last outcome and metering, recent facts",
      )
      .argument("<id>", "instance id")
      .option("--facts <n>", `how many recent facts to show (default ${DEFAULT_FACTS})`, parsePositive)
      .option("--json", "print JSON: { instance, recentFacts }")
      .addHelpText(
        "after",
        `
Examples:
  wasmatrix inspect echo
  wasmatrix inspect echo --facts 50
  wasmatrix inspect echo --json | jq .instance.lastOutcome`,
      ),
  ).action(async (id: string, options: InspectOptions) => {
    await withClient(options, { instanceId: id }, async (client) => {
      const query = await client.queryInstance({ instanceId: id, factLimit: options.facts ?? DEFAULT_FACTS });
      if (options.json) {
        printJson({
          instance: query.instance === undefined ? null : instanceJson(query.instance),
          recentFacts: query.recentFacts.map(factJson),
        });
      } else {
        print(instanceDetails(query, Date.now()));
      }
    });
  });
}

import type { Command } from "commander";
import { type ServerOptions, withClient, withServerOption } from "../connection.js";
import { print, printJson } from "../output.js";
import { formatPairs } from "../table.js";
import { formatAgo, formatTimestamp } from "../time-format.js";

interface InfoOptions extends ServerOptions {
  json?: boolean;
}

export function registerInfo(program: Command): void {
  withServerOption(
    program
      .command("info")
      .description("Show the server's version, protocol version, mode and start time")
      .option("--json", "print JSON")
      .addHelpText(
        "after",
        `
Also the quickest way to check that a server is there: exits 69 when none answers.

Examples:
  wasmatrix info
  wasmatrix info --server 10.0.0.5:7400 --json`,
      ),
  ).action(async (options: InfoOptions) => {
    await withClient(options, {}, async (client) => {
      const info = await client.serverInfo();
      if (options.json) {
        printJson({ server: options.server, ...info });
        return;
      }
      print(
        formatPairs([
          ["SERVER", options.server],
          ["VERSION", info.version],
          ["PROTOCOL", info.protocolVersion],
          ["MODE", info.mode],
          ["STARTED", `${formatTimestamp(info.startedAtMs)} (${formatAgo(info.startedAtMs, Date.now())})`],
        ]),
      );
    });
  });
}

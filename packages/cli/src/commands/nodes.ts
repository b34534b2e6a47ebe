import type { Command } from "commander";
import { type ServerOptions, withClient, withServerOption } from "../connection.js";
import { nodeJson } from "../json.js";
import { print, printJson } from "../output.js";
import { nodesTable } from "../render.js";

interface NodesOptions extends ServerOptions {
  json?: boolean;
}

export function registerNodes(program: Command): void {
  withServerOption(
    program
      .command("nodes")
      .description(
        "List the nodes the control plane knows: status, labels, capabilities, load, last heartbeat",
      )
      .option("--json", "print a JSON array")
      .addHelpText(
        "after",
        `
A node is "alive" while its heartbeats arrive and "lost" after three missed ones. In embedded mode
(\`wasmatrix up\`) there is exactly one node, in the server's own process.

Examples:
  wasmatrix nodes
  wasmatrix nodes --json | jq -r '.[] | select(.status == "alive") | .nodeId'`,
      ),
  ).action(async (options: NodesOptions) => {
    await withClient(options, {}, async (client) => {
      const { nodes } = await client.listNodes();
      if (options.json) printJson(nodes.map(nodeJson));
      else print(nodesTable(nodes, Date.now()));
    });
  });
}

import type { CapabilityAssignment, CapabilityKind } from "@wasmatrix/core";
import type * as pb from "@wasmatrix/proto";
import { assignmentToProto } from "@wasmatrix/proto";
import type { Command } from "commander";
import { type ServerOptions, withClient, withServerOption } from "../connection.js";
import { assignmentJson } from "../json.js";
import { parseCapability, parseCapSpec } from "../options.js";
import { print, printJson } from "../output.js";
import { assignmentsTable } from "../render.js";

interface CapsOptions extends ServerOptions {
  json?: boolean;
}

interface RevokeOptions extends CapsOptions {
  binding?: string;
}

/** Every caps subcommand prints the instance's assignments as they are afterwards. */
function printAssignments(instance: pb.Instance, options: CapsOptions): void {
  if (options.json) {
    printJson({ instanceId: instance.instanceId, assignments: instance.assignments.map(assignmentJson) });
  } else if (instance.assignments.length === 0) {
    print(`instance '${instance.instanceId}' holds no capabilities\n`);
  } else {
    print(assignmentsTable(instance.assignments));
  }
}

export function registerCaps(program: Command): void {
  const caps = program
    .command("caps")
    .description("List, assign and revoke an instance's capabilities while it runs")
    .addHelpText(
      "after",
      `
A change takes effect at the instance's next capability call; nothing restarts. Each change is
recorded as a capability.assigned or capability.revoked fact (\`wasmatrix events\`).

Examples:
  wasmatrix caps ls echo
  wasmatrix caps assign echo keyvalue=kv:read,kv:write
  wasmatrix caps assign echo http=http:domain:api.example.com
  wasmatrix caps revoke echo keyvalue`,
    );

  withServerOption(
    caps
      .command("ls")
      .description("List the capabilities assigned to an instance")
      .argument("<id>", "instance id")
      .option("--json", "print JSON: { instanceId, assignments }")
      .addHelpText(
        "after",
        `
Examples:
  wasmatrix caps ls echo
  wasmatrix caps ls echo --json | jq '.assignments[] | select(.capability == "keyvalue")'`,
      ),
  ).action(async (id: string, options: CapsOptions) => {
    await withClient(options, { instanceId: id }, async (client) => {
      const { instance } = await client.queryInstance({ instanceId: id, factLimit: 1 });
      if (instance !== undefined) printAssignments(instance, options);
    });
  });

  withServerOption(
    caps
      .command("assign")
      .description("Assign a capability to an instance, replacing any with the same capability and binding")
      .argument("<id>", "instance id")
      .argument("<spec>", "<capability>[@<provider>][#<binding>][=<permission>,…]", parseCapSpec)
      .option("--json", "print JSON: { instanceId, assignments }")
      .addHelpText(
        "after",
        `
The spec is the one \`wasmatrix start --cap\` takes. Without @provider the node's own (local)
provider serves it; without #binding it is the "default" binding guests use.

Examples:
  wasmatrix caps assign echo keyvalue=kv:read,kv:write,kv:list
  wasmatrix caps assign echo keyvalue#cache=kv:read
  wasmatrix caps assign echo 'messaging=msg:publish:orders.*'
  wasmatrix caps assign echo logging`,
      ),
  ).action(async (id: string, assignment: CapabilityAssignment, options: CapsOptions) => {
    await withClient(options, { instanceId: id }, async (client) => {
      printAssignments(
        await client.assignCapability({ instanceId: id, assignment: assignmentToProto(assignment) }),
        options,
      );
    });
  });

  withServerOption(
    caps
      .command("revoke")
      .description("Revoke a capability from an instance: every binding of it, or one with --binding")
      .argument("<id>", "instance id")
      .argument("<capability>", "keyvalue, http, messaging or logging", parseCapability)
      .option("--binding <name>", "revoke only this binding")
      .option("--json", "print JSON: { instanceId, assignments }")
      .addHelpText(
        "after",
        `
The instance keeps running; its next call to the capability fails with CAPABILITY_NOT_ASSIGNED.

Examples:
  wasmatrix caps revoke echo keyvalue
  wasmatrix caps revoke echo keyvalue --binding cache`,
      ),
  ).action(async (id: string, capability: CapabilityKind, options: RevokeOptions) => {
    await withClient(options, { instanceId: id }, async (client) => {
      printAssignments(
        await client.revokeCapability({ instanceId: id, capability, binding: options.binding ?? "" }),
        options,
      );
    });
  });
}

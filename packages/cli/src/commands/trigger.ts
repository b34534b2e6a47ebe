import { parseLabelSelector } from "@wasmatrix/core";
import * as pb from "@wasmatrix/proto";
import type { Command } from "commander";
import { type ServerOptions, withClient, withServerOption } from "../connection.js";
import { readPayload } from "../files.js";
import { usage } from "../options.js";
import { print, printJson } from "../output.js";
import { formatTable } from "../table.js";
import { formatTimestamp } from "../time-format.js";
import { parseCount } from "../units.js";

interface AddOptions extends ServerOptions {
  cron?: string;
  queue?: string;
  group?: string;
  target?: string;
  targetLabel?: string[];
  operation: string;
  data?: string;
  deadLetter?: string;
  maxAttempts?: number;
  json?: boolean;
}

interface ListOptions extends ServerOptions {
  json?: boolean;
}

const collect = (text: string, previous: string[] | undefined) => [...(previous ?? []), text];

export function triggerJson(trigger: pb.Trigger) {
  const json = pb.Trigger.toJSON(trigger) as Record<string, unknown>;
  return { ...json, data: Buffer.from(trigger.data).toString("utf8") };
}

function source(trigger: pb.Trigger): string {
  if (trigger.cron !== "") return `cron ${trigger.cron}`;
  return `queue ${trigger.queueSubject}${trigger.queueGroup === "" ? "" : ` (group ${trigger.queueGroup})`}`;
}

function target(trigger: pb.Trigger): string {
  if (trigger.targetInstanceId !== "") return trigger.targetInstanceId;
  return Object.entries(trigger.targetLabels)
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
}

export function triggersTable(triggers: readonly pb.Trigger[]): string {
  return formatTable(
    [
      "NAME",
      "SOURCE",
      "TARGET",
      "OPERATION",
      "NEXT",
      { header: "FIRED", align: "right" },
      { header: "FAILED", align: "right" },
    ],
    triggers.map((t) => [
      t.name,
      source(t),
      target(t),
      t.operation,
      t.nextFireAtMs > 0 ? formatTimestamp(t.nextFireAtMs) : null,
      t.counters?.fired ?? 0,
      t.counters?.failed ?? 0,
    ]),
  );
}

export function registerTrigger(program: Command): void {
  const trigger = program
    .command("trigger")
    .description("Cron and queue triggers: invocations started by a schedule or by messages")
    .addHelpText(
      "after",
      `
Examples:
  wasmatrix trigger add tick --cron '*/5 * * * *' --target echo --operation kv_counter
  wasmatrix trigger add orders --queue 'orders.>' --target-label app=worker --operation handle_message
  wasmatrix trigger list
  wasmatrix trigger remove tick

See docs/triggers.md.`,
    );

  withServerOption(
    trigger
      .command("add")
      .description("Add a trigger (give --cron or --queue, and --target or --target-label)")
      .argument("<name>", "the trigger's name: letters, digits, '.', '_' or '-'")
      .option("--cron <expr>", "5 fields (m h dom mon dow) or 6 with seconds first, in UTC")
      .option("--queue <subject>", "messages on this subject ('*' and '>' wildcards) invoke the target")
      .option("--group <name>", "queue triggers: share the messages with this queue group")
      .option("--target <instance>", "the instance to invoke")
      .option("--target-label <k=v>", "every running instance with these labels (repeatable)", collect)
      .requiredOption("--operation <op>", "the operation to invoke")
      .option("-d, --data <text|@file>", "cron triggers: the payload of each invocation")
      .option(
        "--dead-letter <subject>",
        "queue triggers: where failed messages go (default wasmatrix.deadletter.trigger.<name>)",
      )
      .option(
        "--max-attempts <n>",
        "queue triggers: invocations per message before it is dead-lettered (default 5)",
        usage(parseCount),
      )
      .option("--json", "print the trigger as JSON")
      .addHelpText(
        "after",
        `
A cron trigger invokes its target on every tick and records a trigger.fired fact with the outcome
(wasmatrix events). A label target invokes every running instance carrying the labels. With
several control planes each tick fires once. A queue trigger invokes one target per message,
with retries and a dead-letter subject.

Examples:
  wasmatrix trigger add every-second --cron '*/1 * * * * *' --target echo --operation kv_counter
  wasmatrix trigger add nightly --cron '0 3 * * *' --target-label app=report --operation run --data '{"full":true}'
  wasmatrix trigger add jobs --queue 'jobs.*' --group workers --target worker-1 --operation handle_message`,
      ),
  ).action(async (name: string, options: AddOptions) => {
    await withClient(options, {}, async (client) => {
      const labels = options.targetLabel === undefined ? {} : parseLabelSelector(options.targetLabel);
      const data = options.data === undefined ? Buffer.alloc(0) : await readPayload(options.data);
      const added = await client.addTrigger({
        trigger: pb.Trigger.fromPartial({
          name,
          cron: options.cron ?? "",
          queueSubject: options.queue ?? "",
          queueGroup: options.group ?? "",
          targetInstanceId: options.target ?? "",
          targetLabels: labels,
          operation: options.operation,
          data,
          deadLetterSubject: options.deadLetter ?? "",
          maxAttempts: options.maxAttempts ?? 0,
        }),
      });
      if (options.json) printJson(triggerJson(added));
      else print(triggersTable([added]));
    });
  });

  withServerOption(
    trigger
      .command("list")
      .description("List the triggers: source, target, next tick, firings")
      .option("--json", "print a JSON array")
      .addHelpText(
        "after",
        `
FIRED and FAILED count this control plane's firings (queue triggers: messages delivered, and
dead-lettered) since it started.

Examples:
  wasmatrix trigger list
  wasmatrix trigger list --json | jq -r '.[].name'`,
      ),
  ).action(async (options: ListOptions) => {
    await withClient(options, {}, async (client) => {
      const { triggers } = await client.listTriggers();
      if (options.json) printJson(triggers.map(triggerJson));
      else print(triggersTable(triggers));
    });
  });

  withServerOption(
    trigger
      .command("remove")
      .description("Remove a trigger: no more ticks, no more messages")
      .argument("<name>", "the trigger's name")
      .option("--json", "print the removed trigger as JSON")
      .addHelpText("after", "\nExamples:\n  wasmatrix trigger remove tick"),
  ).action(async (name: string, options: ListOptions) => {
    await withClient(options, {}, async (client) => {
      const removed = await client.removeTrigger({ name });
      if (options.json) printJson(triggerJson(removed));
      else print(triggersTable([removed]));
    });
  });
}

import { invokeRequest } from "@wasmatrix/client";
import type * as pb from "@wasmatrix/proto";
import type { Command } from "commander";
import { GUEST_TIMEOUT_MS, type ServerOptions, withClient, withServerOption } from "../connection.js";
import { CLUSTER_EXIT, EXIT, exitCodeFor } from "../exit-codes.js";
import { readPayload } from "../files.js";
import { outcomeJson } from "../json.js";
import { printError, printJson } from "../output.js";
import { outcomeText } from "../render.js";

interface InvokeOptions extends ServerOptions {
  data?: string;
  json?: boolean;
}

export function registerInvoke(program: Command): void {
  withServerOption(
    program
      .command("invoke")
      .description(
        "Call an operation of a running reactor instance (or a function of an Extism plugin) and print its answer",
      )
      .argument("<id>", "instance id")
      .argument("<operation>", "operation name the guest registered (e.g. echo)")
      .option(
        "-d, --data <text|@file>",
        "payload: literal text, @path to send a file's bytes, @- to read stdin",
      )
      .option("--json", "print { response, guestError, outcome } as JSON (the response decoded as UTF-8)")
      .addHelpText(
        "after",
        `
The response bytes go to stdout exactly as the guest wrote them (a newline is added only when
stdout is a terminal), so binary answers can be redirected to a file.

Exit codes: 0 on an answer; 1 when the guest answers with an error (printed to stderr; the
instance keeps running) or the server refuses the call; 124 when the invocation ran out of fuel
or time and 134 for any other crash (the instance crashed: its restart policy decides what
next), as \`wasmatrix run\` reports them; 69 when no server answers.

Examples:
  wasmatrix invoke echo echo --data hello
  wasmatrix invoke echo upper --data @request.json
  wasmatrix invoke plugin greet --data world        # an Extism plugin's exported function
  echo -n hi | wasmatrix invoke echo echo --data @-
  wasmatrix invoke echo kv_counter --json`,
      ),
  ).action(async (id: string, operation: string, options: InvokeOptions) => {
    await withClient(options, { instanceId: id, timeoutMs: GUEST_TIMEOUT_MS }, async (client) => {
      const payload = await readPayload(options.data);
      const result = await client.invoke(invokeRequest(id, operation, payload));
      return options.json ? reportJson(result) : report(id, result);
    });
  });
}

function exitCodeOf(result: pb.InvokeResponse): number {
  if (result.outcome !== undefined && result.outcome.status !== "ok") return exitCodeFor(result.outcome);
  return result.guestError === "" ? CLUSTER_EXIT.OK : EXIT.GUEST_ERROR;
}

function report(id: string, result: pb.InvokeResponse): number {
  if (result.response.byteLength > 0) {
    process.stdout.write(result.response);
    if (process.stdout.isTTY) process.stdout.write("\n");
  }
  if (result.guestError !== "") printError(`error: guest error: ${result.guestError}\n`);
  if (result.outcome !== undefined && result.outcome.status !== "ok") {
    printError(
      `error: instance '${id}' ${outcomeText(result.outcome)}\n` +
        `hint: its restart policy decides what happens next; \`wasmatrix inspect ${id}\` shows it\n`,
    );
  }
  return exitCodeOf(result);
}

function reportJson(result: pb.InvokeResponse): number {
  printJson({
    response: result.response.toString("utf8"),
    guestError: result.guestError === "" ? null : result.guestError,
    outcome: outcomeJson(result.outcome),
  });
  return exitCodeOf(result);
}

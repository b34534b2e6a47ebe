import * as pb from "@wasmatrix/proto";
import type { Command } from "commander";
import { type ServerOptions, withClient, withServerOption } from "../connection.js";
import { UsageError } from "../failure.js";
import { parsePair } from "../options.js";
import { print, printJson } from "../output.js";
import { formatTable } from "../table.js";

interface AddOptions extends ServerOptions {
  path: string;
  host?: string;
  method?: string;
  target?: string;
  targetLabel?: [string, string];
  operation?: string;
  json?: boolean;
}

/** What `route list --json` prints: the route as the API has it, with one target field. */
export function routeJson(route: pb.Route): Record<string, unknown> {
  return {
    name: route.name,
    pathPrefix: route.pathPrefix,
    host: route.host === "" ? null : route.host,
    methods: route.methods,
    target:
      route.targetInstance !== ""
        ? { instance: route.targetInstance }
        : { label: { [route.targetLabelKey]: route.targetLabelValue } },
    operation: route.operation,
    createdAtMs: route.createdAtMs,
  };
}

export function routesTable(routes: readonly pb.Route[]): string {
  return formatTable(
    ["NAME", "HOST", "PATH", "METHODS", "TARGET", "OPERATION"],
    routes.map((r) => [
      r.name,
      r.host === "" ? "*" : r.host,
      r.pathPrefix,
      r.methods.length === 0 ? "*" : r.methods.join(","),
      r.targetInstance !== "" ? r.targetInstance : `label ${r.targetLabelKey}=${r.targetLabelValue}`,
      r.operation,
    ]),
  );
}

export function registerRoute(program: Command): void {
  const route = program
    .command("route")
    .description("HTTP routes: which requests the gateways hand to which instances")
    .addHelpText(
      "after",
      `
Examples:
  wasmatrix route add echo --path / --target echo
  wasmatrix route add api --path /api --host api.example.com --method GET,POST --target-label app=api
  wasmatrix route list
  wasmatrix route remove api`,
    );

  withServerOption(
    route
      .command("add")
      .description(
        "Add a route: requests under --path (and --host, --method) go to --target or --target-label",
      )
      .argument("<name>", "the route's name (letters, digits, . _ -)")
      .requiredOption("--path <prefix>", "path prefix, matched by whole segments; the longest wins")
      .option("--host <host>", "only requests for this Host (or *.example.com); default any")
      .option("--method <list>", "only these methods, e.g. GET,POST (others get 405); default any")
      .option("--target <id>", "the instance that serves it")
      .option("--target-label <k=v>", "the least busy running instance carrying this label", (t) =>
        parsePair(t),
      )
      .option("--operation <op>", "the guest operation invoked; default http")
      .option("--json", "print the added route as JSON")
      .addHelpText(
        "after",
        `
The guest's operation receives the request in the HTTP handler encoding of docs/abi.md and
answers status, headers and body the same way (examples/c/http_echo.c).

Examples:
  wasmatrix route add echo --path / --target echo
  wasmatrix start examples/build/http_echo.wasm --id web --replicas 3
  wasmatrix route add web --path /web --method GET,POST --target-label app=web`,
      ),
  ).action(async (name: string, options: AddOptions) => {
    const request = pb.Route.fromPartial({
      name,
      pathPrefix: options.path,
      host: options.host ?? "",
      methods: (options.method ?? "")
        .split(",")
        .map((m) => m.trim())
        .filter((m) => m !== ""),
      targetInstance: options.target ?? "",
      targetLabelKey: options.targetLabel?.[0] ?? "",
      targetLabelValue: options.targetLabel?.[1] ?? "",
      operation: options.operation ?? "",
    });
    await withClient(options, {}, async (client) => {
      // Checked in here, where usage errors get their exit code (2) and hint.
      if ((options.target === undefined) === (options.targetLabel === undefined)) {
        throw new UsageError(
          "route add needs exactly one of --target and --target-label",
          `wasmatrix route add ${name} --path ${options.path} --target <instance-id>`,
        );
      }
      const added = await client.addRoute({ route: request });
      if (options.json) printJson(routeJson(added));
      else print(routesTable([added]));
    });
  });

  withServerOption(
    route.command("list").description("List the routes").option("--json", "print a JSON array"),
  ).action(async (options: ServerOptions & { json?: boolean }) => {
    await withClient(options, {}, async (client) => {
      const { routes } = await client.listRoutes();
      if (options.json) printJson(routes.map(routeJson));
      else print(routesTable(routes));
    });
  });

  withServerOption(
    route
      .command("remove")
      .description("Remove a route; the gateways stop serving it within a moment")
      .argument("<name>", "the route's name")
      .option("--json", "print the removed route as JSON"),
  ).action(async (name: string, options: ServerOptions & { json?: boolean }) => {
    await withClient(options, {}, async (client) => {
      const removed = await client.removeRoute({ name });
      if (options.json) printJson(routeJson(removed));
      else print(`removed route ${removed.name}\n`);
    });
  });
}

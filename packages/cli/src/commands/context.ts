import { resolve } from "node:path";
import type { Command } from "commander";
import { type Context, contextsPath, readContexts, writeContexts } from "../contexts.js";
import { CLUSTER_EXIT } from "../exit-codes.js";
import { failureFrom, formatFailure, UsageError } from "../failure.js";
import { print, printError, printJson } from "../output.js";
import { formatTable } from "../table.js";

interface AddOptions {
  server: string;
  token?: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
}

async function locally(body: () => Promise<void>): Promise<void> {
  try {
    await body();
    process.exitCode = CLUSTER_EXIT.OK;
  } catch (error) {
    const failure = failureFrom(error);
    printError(formatFailure(failure));
    process.exitCode = failure.exitCode;
  }
}

function missing(name: string): UsageError {
  return new UsageError(`no context named '${name}'`, "`wasmatrix context list` shows the contexts");
}

export function registerContext(program: Command): void {
  const context = program
    .command("context")
    .description("Named server addresses with their credentials, so commands need not repeat flags")
    .addHelpText(
      "after",
      `
Contexts live in $WASMATRIX_CONFIG_DIR/contexts.json (default ~/.config/wasmatrix), mode 0600.
--server, --tls-* flags and WASMATRIX_SERVER/WASMATRIX_TLS_* override the current context;
WASMATRIX_CONTEXT picks another context for one command.

Examples:
  wasmatrix context add prod --server cp.example.com:7400 \\
    --tls-ca pki/ca.crt --tls-cert pki/client-alice.crt --tls-key pki/client-alice.key
  wasmatrix context use prod
  wasmatrix ps                      # talks to prod over mTLS
  wasmatrix context list`,
    );

  context
    .command("add")
    .description("Add (or replace) a context; the first one added becomes the current one")
    .argument("<name>", "the context's name")
    .requiredOption("--server <address>", "control-plane address (host:port)")
    .option("--token <token>", "API token sent with every call (stored in the file, mode 0600)")
    .option("--tls-ca <file>", "CA certificate (PEM)")
    .option("--tls-cert <file>", "client certificate (PEM)")
    .option("--tls-key <file>", "client key (PEM)")
    .addHelpText("after", "\nExample:\n  wasmatrix context add local --server 127.0.0.1:7400")
    .action(async (name: string, options: AddOptions) => {
      await locally(async () => {
        const tls = [options.tlsCa, options.tlsCert, options.tlsKey].filter((f) => f !== undefined);
        if (tls.length !== 0 && tls.length !== 3) {
          throw new UsageError("give all of --tls-ca, --tls-cert and --tls-key, or none");
        }
        const file = await readContexts();
        // Paths are kept absolute: the context is used from any directory.
        const entry: Context = {
          server: options.server,
          ...(options.token === undefined ? {} : { token: options.token }),
          ...(options.tlsCa === undefined ? {} : { tlsCa: resolve(options.tlsCa) }),
          ...(options.tlsCert === undefined ? {} : { tlsCert: resolve(options.tlsCert) }),
          ...(options.tlsKey === undefined ? {} : { tlsKey: resolve(options.tlsKey) }),
        };
        file.contexts[name] = entry;
        file.current ??= name;
        await writeContexts(file);
        print(`context '${name}' saved in ${contextsPath()}${file.current === name ? " (current)" : ""}\n`);
      });
    });

  context
    .command("use")
    .description("Make a context the current one")
    .argument("<name>", "the context's name")
    .action(async (name: string) => {
      await locally(async () => {
        const file = await readContexts();
        if (file.contexts[name] === undefined) throw missing(name);
        file.current = name;
        await writeContexts(file);
        print(`now using context '${name}' (${file.contexts[name].server})\n`);
      });
    });

  context
    .command("list")
    .alias("ls")
    .description("List the contexts; * marks the current one")
    .option("--json", "print JSON: [{ name, current, server, tls, token }] (tokens are not printed)")
    .action(async (options: { json?: boolean }) => {
      await locally(async () => {
        const file = await readContexts();
        const rows = Object.entries(file.contexts).map(([name, c]) => ({
          name,
          current: name === file.current,
          server: c.server,
          tls: c.tlsCert !== undefined,
          token: c.token !== undefined,
        }));
        if (options.json) {
          printJson(rows);
          return;
        }
        if (rows.length === 0) {
          print("no contexts; add one with `wasmatrix context add NAME --server ADDR`\n");
          return;
        }
        print(
          formatTable(
            ["CURRENT", "NAME", "SERVER", "TLS", "TOKEN"],
            rows.map((r) => [
              r.current ? "*" : "",
              r.name,
              r.server,
              r.tls ? "yes" : "no",
              r.token ? "yes" : "no",
            ]),
          ),
        );
      });
    });

  context
    .command("remove")
    .alias("rm")
    .description("Remove a context")
    .argument("<name>", "the context's name")
    .action(async (name: string) => {
      await locally(async () => {
        const file = await readContexts();
        if (file.contexts[name] === undefined) throw missing(name);
        delete file.contexts[name];
        if (file.current === name) delete file.current;
        await writeContexts(file);
        print(`context '${name}' removed\n`);
      });
    });
}

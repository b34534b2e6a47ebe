import { connect, type WasmatrixClient } from "@wasmatrix/client";
import { DEFAULT_API_ADDRESS } from "@wasmatrix/core";
import { type Command, Option } from "commander";
import { CLUSTER_EXIT } from "./exit-codes.js";
import { failureFrom, formatFailure } from "./failure.js";

/** Where the CLI looks for a server when neither --server nor WASMATRIX_SERVER says. */

/** Unary calls that only read. */
export const QUERY_TIMEOUT_MS = 30_000;
/**
 * Calls that may wait on a guest (start compiles and instantiates, invoke runs up to the
 * instance's invoke timeout, stop waits for its deadline): longer than any default limit.
 */
export const GUEST_TIMEOUT_MS = 120_000;

export interface ServerOptions {
  server: string;
  token?: string;
}

/**
 * Adds `--server <address>` (env WASMATRIX_SERVER) and `--token <token>` (env WASMATRIX_TOKEN,
 * sent as `authorization: Bearer …`) to a command that talks to a server.
 */
export function withServerOption(command: Command): Command {
  return command
    .addOption(
      new Option("--server <address>", "control-plane address (host:port)")
        .env("WASMATRIX_SERVER")
        .default(DEFAULT_API_ADDRESS),
    )
    .addOption(
      new Option("--token <token>", "API token of a server started with --auth").env("WASMATRIX_TOKEN"),
    );
}

export interface ClusterCall {
  /** Deadline of each unary call. @default QUERY_TIMEOUT_MS */
  timeoutMs?: number;
  /** Fills `<id>` in error hints. */
  instanceId?: string;
}

/**
 * Connects, runs `body`, closes, and turns any failure into `error: …` / `hint: …` on stderr and
 * the matching exit code (1 refused by the server, 2 usage, 69 unreachable). `body` resolves to
 * an exit code when it is not 0 (an invocation the guest failed, for instance), else to nothing.
 */
export async function withClient(
  options: ServerOptions,
  call: ClusterCall,
  body: (client: WasmatrixClient) => Promise<unknown>,
): Promise<void> {
  const client = connect(options.server, {
    timeoutMs: call.timeoutMs ?? QUERY_TIMEOUT_MS,
    ...(options.token === undefined || options.token === "" ? {} : { token: options.token }),
  });
  try {
    const code = await body(client);
    process.exitCode = typeof code === "number" ? code : CLUSTER_EXIT.OK;
  } catch (error) {
    const failure = failureFrom(error, call.instanceId === undefined ? {} : { instanceId: call.instanceId });
    process.stderr.write(formatFailure(failure));
    process.exitCode = failure.exitCode;
  } finally {
    client.close();
  }
}

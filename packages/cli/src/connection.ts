import { connect, type WasmatrixClient } from "@wasmatrix/client";
import { DEFAULT_API_ADDRESS } from "@wasmatrix/core";
import { loadTls, type TlsMaterial } from "@wasmatrix/proto";
import { type Command, Option } from "commander";
import { currentContext } from "./contexts.js";
import { CLUSTER_EXIT } from "./exit-codes.js";
import { failureFrom, formatFailure, UsageError } from "./failure.js";

/** Unary calls that only read. */
export const QUERY_TIMEOUT_MS = 30_000;
/**
 * Calls that may wait on a guest (start compiles and instantiates, invoke runs up to the
 * instance's invoke timeout, stop waits for its deadline): longer than any default limit.
 */
export const GUEST_TIMEOUT_MS = 120_000;

export interface ServerOptions {
  /** Filled by withClient from the flag, the environment, the context or the default. */
  server?: string;
  /** `--token` or WASMATRIX_TOKEN; without either, the context's token. */
  token?: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
}

/** `--tls-ca/--tls-cert/--tls-key` (env WASMATRIX_TLS_CA/_CERT/_KEY), for daemons and clients alike. */
export function tlsOptions(): Option[] {
  return [
    new Option("--tls-ca <file>", "CA certificate (PEM) peers' certificates must chain to").env(
      "WASMATRIX_TLS_CA",
    ),
    new Option("--tls-cert <file>", "this process's certificate (PEM), from `wasmatrix certs issue`").env(
      "WASMATRIX_TLS_CERT",
    ),
    new Option("--tls-key <file>", "the private key (PEM) of --tls-cert").env("WASMATRIX_TLS_KEY"),
  ];
}

export interface DaemonSecurityOptions {
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  insecure?: boolean;
}

/** A daemon's TLS flags and `--insecure` (env WASMATRIX_INSECURE). */
export function withDaemonSecurityOptions(command: Command): Command {
  for (const option of tlsOptions()) command.addOption(option);
  return command.addOption(
    new Option(
      "--insecure",
      "serve plain gRPC on a non-loopback address without TLS: anyone who reaches it can use it",
    ).env("WASMATRIX_INSECURE"),
  );
}

/** What startGrpcServer needs from those flags. */
export function daemonSecurity(options: DaemonSecurityOptions): {
  tls: TlsMaterial | undefined;
  insecure: boolean;
} {
  return { tls: tlsFromOptions(options), insecure: options.insecure === true };
}

/** The TLS material the flags name, or none; a partial set is a usage error. */
export function tlsFromOptions(options: { tlsCa?: string; tlsCert?: string; tlsKey?: string }) {
  try {
    return loadTls({ ca: options.tlsCa, cert: options.tlsCert, key: options.tlsKey });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/**
 * Adds `--server <address>` (env WASMATRIX_SERVER), `--token <token>` (env WASMATRIX_TOKEN, sent
 * as `authorization: Bearer …`) and the TLS flags to a command that talks to a server. Without
 * them, the current context (`wasmatrix context use`) says; without one, the loopback default.
 */
export function withServerOption(command: Command): Command {
  command.addOption(
    new Option(
      "--server <address>",
      `control-plane address (host:port); default: the current context's, else ${DEFAULT_API_ADDRESS}`,
    ).env("WASMATRIX_SERVER"),
  );
  command.addOption(
    new Option(
      "--token <token>",
      "API token of a server started with --auth; default: the current context's",
    ).env("WASMATRIX_TOKEN"),
  );
  for (const option of tlsOptions()) command.addOption(option);
  return command;
}

export interface ResolvedConnection {
  server: string;
  tls: TlsMaterial | undefined;
  /** The API token to send: `--token`/WASMATRIX_TOKEN, else the context's (`context add --token`). */
  token?: string;
  /** The context the settings came from, when one did. */
  context?: string;
}

/** Flags and environment win, each on its own; the current context fills the rest. */
export async function resolveConnection(
  options: ServerOptions,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ResolvedConnection> {
  const current = await currentContext(env);
  const context = current?.context;
  const tlsFlags =
    options.tlsCa !== undefined || options.tlsCert !== undefined || options.tlsKey !== undefined;
  const files = tlsFlags
    ? options
    : {
        ...(context?.tlsCa === undefined ? {} : { tlsCa: context.tlsCa }),
        ...(context?.tlsCert === undefined ? {} : { tlsCert: context.tlsCert }),
        ...(context?.tlsKey === undefined ? {} : { tlsKey: context.tlsKey }),
      };
  return {
    server: options.server ?? context?.server ?? DEFAULT_API_ADDRESS,
    tls: tlsFromOptions(files),
    ...tokenFrom(options.token, context?.token),
    ...(current === undefined ? {} : { context: current.name }),
  };
}

function tokenFrom(flag: string | undefined, stored: string | undefined): { token?: string } {
  const token = flag !== undefined && flag !== "" ? flag : stored;
  return token === undefined || token === "" ? {} : { token };
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
  let client: WasmatrixClient | undefined;
  try {
    const resolved = await resolveConnection(options);
    options.server = resolved.server;
    client = connect(resolved.server, {
      timeoutMs: call.timeoutMs ?? QUERY_TIMEOUT_MS,
      tls: resolved.tls,
      ...(resolved.token === undefined ? {} : { token: resolved.token }),
    });
    const code = await body(client);
    process.exitCode = typeof code === "number" ? code : CLUSTER_EXIT.OK;
  } catch (error) {
    const failure = failureFrom(error, call.instanceId === undefined ? {} : { instanceId: call.instanceId });
    process.stderr.write(formatFailure(failure));
    process.exitCode = failure.exitCode;
  } finally {
    client?.close();
  }
}

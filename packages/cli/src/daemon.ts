import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import type { Logger } from "@wasmatrix/core/logger";
import { type Command, Option } from "commander";
import { CLUSTER_EXIT } from "./exit-codes.js";
import { prepareStateDir } from "./security-options.js";

/** Beyond the stop deadline: closing servers and runtimes. */
const SHUTDOWN_GRACE_MS = 5_000;

/**
 * Keeps a daemon in the foreground until SIGINT or SIGTERM, then closes it gracefully within the
 * deadline (a second signal exits at once). Resolves with the process's exit code.
 */
export function runUntilSignalled(
  close: () => Promise<void>,
  logger: Logger,
  stopDeadlineMs: number,
): Promise<number> {
  return new Promise<number>((resolve) => {
    let stopping = false;
    const shutdown = (signal: NodeJS.Signals) => {
      if (stopping) {
        logger.warn({ signal }, "second signal: exiting without waiting");
        process.exit(130);
      }
      stopping = true;
      logger.info({ signal, stopDeadlineMs }, "stopping");
      const force = setTimeout(() => {
        logger.error({ waitedMs: stopDeadlineMs + SHUTDOWN_GRACE_MS }, "shutdown is stuck; exiting anyway");
        process.exit(CLUSTER_EXIT.FAILED);
      }, stopDeadlineMs + SHUTDOWN_GRACE_MS);
      force.unref();
      close().then(
        () => {
          clearTimeout(force);
          logger.info("stopped");
          resolve(CLUSTER_EXIT.OK);
        },
        (error: unknown) => {
          clearTimeout(force);
          logger.error({ error: (error as Error).message }, "shutdown failed");
          resolve(CLUSTER_EXIT.FAILED);
        },
      );
    };
    process.on("SIGINT", shutdown);
    process.on("SIGTERM", shutdown);
  });
}

/**
 * Fills options the command line and the environment left at their defaults from a JSON config
 * file whose keys are the options' long names in camelCase (`listen`, `heartbeatInterval`…).
 * Values are strings (or arrays/objects where the option takes several) and go through the
 * same parsers as on the command line.
 */
export function applyConfigFile(command: Command, path: string | undefined): void {
  if (path === undefined) return;
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
  } catch (error) {
    command.error(`error: cannot read config file ${path}: ${(error as Error).message}`, { exitCode: 2 });
  }
  for (const option of command.options) {
    const key = option.attributeName();
    if (!(key in config) || key === "config") continue;
    const source = command.getOptionValueSource(key);
    if (source === "cli" || source === "env") continue;
    const raw = config[key];
    const text = Array.isArray(raw)
      ? raw.join(",")
      : typeof raw === "object" && raw !== null
        ? Object.entries(raw)
            .map(([k, v]) => `${k}=${String(v)}`)
            .join(",")
        : String(raw);
    const value = option.parseArg === undefined ? text : option.parseArg(text, undefined);
    command.setOptionValueWithSource(key, option.isBoolean() ? raw === true : value, "config");
  }
}

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

/** `--log-level` of the daemons (`up`, `control-plane`, `node-agent`). */
export const logLevelOption = (): Option =>
  new Option("--log-level <level>", "log level of the daemon's log (JSON lines on stderr)")
    .choices(LOG_LEVELS)
    .env("WASMATRIX_LOG_LEVEL")
    .default("info");

/** `--config` of the distributed daemons; see applyConfigFile. */
export const configOption = (): Option =>
  new Option("--config <file.json>", "read options from a JSON file (flags and env win)").env(
    "WASMATRIX_CONFIG",
  );

/** `--nats` of the daemons: keyvalue on JetStream and messaging over these NATS servers. */
export const natsOption = (without = "without it, in-memory keyvalue and no messaging"): Option =>
  new Option(
    "--nats <url>",
    `NATS server(s), comma-separated: keyvalue on JetStream (data outlives the process) and messaging; ${without}`,
  ).env("WASMATRIX_NATS");

export const LOG_FORMATS = ["text", "json"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** `--log-format` of the daemons: whether a person or a log collector reads their output. */
export const logFormatOption = (): Option =>
  new Option(
    "--log-format <format>",
    "text: a readable banner on stdout, then JSON log lines on stderr; json: the log lines only (default: text on a terminal, json otherwise)",
  )
    .choices(LOG_FORMATS)
    .env("WASMATRIX_LOG_FORMAT");

/** Whether to print a banner: asked for, or a person is at the terminal. */
export function wantsBanner(format: LogFormat | undefined): boolean {
  return format === undefined ? process.stdout.isTTY === true : format === "text";
}

/** `key  value` lines under a title, then what to try next: the banners of `up` and the daemons. */
export function formatBanner(
  title: string,
  facts: readonly (readonly [string, string])[],
  tries: readonly string[],
): string {
  const width = Math.max(...facts.map(([key]) => key.length));
  const lines = [title, ...facts.map(([key, value]) => `  ${key.padEnd(width)}  ${value}`)];
  if (tries.length > 0) lines.push("", "Try, in another terminal:", ...tries.map((t) => `  ${t}`));
  lines.push("", "Ctrl-C stops it.", "");
  return lines.join("\n");
}

export interface AuthOptions {
  auth?: boolean;
  stateDir?: string;
}

/** `--auth` of `up` and `control-plane`; its keys live in `--state-dir` (security-options.ts). */
export const authOption = (): Option =>
  new Option(
    "--auth",
    "require an API token (authorization: Bearer …) on every call; the first start writes an admin token to <state-dir>/admin.token",
  ).env("WASMATRIX_AUTH");

/** The `auth` option of a daemon or `up`: none without --auth. */
export function authConfig(options: AuthOptions): { auth?: { stateDir: string } } {
  return options.auth === true ? { auth: { stateDir: prepareStateDir(options.stateDir) } } : {};
}

/** What a daemon started with --auth says about its tokens, for its banner. */
export function authBannerLine(adminTokenPath: string | undefined, stateDir: string | undefined): string {
  return adminTokenPath !== undefined
    ? `on; first admin token written to ${adminTokenPath} (mode 0600): export WASMATRIX_TOKEN=$(cat ${adminTokenPath})`
    : `on; tokens signed with the key in ${stateDir ?? "the state dir"}`;
}

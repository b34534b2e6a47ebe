import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import { startRequest } from "@wasmatrix/client";
import {
  type CapabilityAssignment,
  DEFAULT_FUEL,
  DEFAULT_INVOKE_TIMEOUT_MS,
  DEFAULT_MAX_CONCURRENCY,
  DEFAULT_MAX_MEMORY_BYTES,
  DEFAULT_QUEUE_DEPTH,
  ErrorCode,
  formatDurationMs,
  type RestartPolicy,
  WasmatrixError,
} from "@wasmatrix/core";
import { isOciReference, parseReference } from "@wasmatrix/oci";
import {
  assignmentToProto,
  type ControlPlaneApi,
  type Instance,
  restartPolicyToProto,
  startRequestFor,
} from "@wasmatrix/proto";
import type { Command } from "commander";
import { GUEST_TIMEOUT_MS, type ServerOptions, withClient, withServerOption } from "../connection.js";
import { type ExtismManifest, readExtismManifest } from "../extism-manifest.js";
import { UsageError } from "../failure.js";
import { readFileArg } from "../files.js";
import { instanceJson } from "../json.js";
import {
  pairsToRecord,
  parseCapSpec,
  parseEnvPair,
  parseInstanceId,
  parseMs,
  parsePair,
  parsePositive,
  parseRestart,
  parseSize,
  repeatable,
} from "../options.js";
import { print, printError, printJson } from "../output.js";
import { instancesTable } from "../render.js";
import { formatBytes } from "../time-format.js";

interface StartOptions extends ServerOptions {
  id?: string;
  restart?: RestartPolicy;
  cap?: CapabilityAssignment[];
  env?: [string, string][];
  memory?: number;
  fuel?: number;
  timeout?: number;
  runTimeout?: number;
  label?: [string, string][];
  requireLabel?: [string, string][];
  preferLabel?: [string, string][];
  tenant?: string;
  config?: [string, string][];
  extismManifest?: string;
  replicas?: number;
  maxConcurrency?: number;
  queueDepth?: number;
  signature?: string;
  json?: boolean;
}

export function registerStart(program: Command): void {
  withServerOption(
    program
      .command("start")
      .description(
        "Start a module as a supervised instance on the cluster (a reactor stays resident; a command runs to its end)",
      )
      .argument(
        "[module]",
        "path to a .wasm file (sent to the server), or oci://host[:port]/repo:tag[@sha256:…] (pulled by the server); omitted with --id, the stopped instance starts again as it was",
      )
      .argument("[args...]", "arguments passed to a command guest (put them after --)")
      .option("--id <id>", "instance id; chosen by the server when omitted", parseInstanceId)
      .option(
        "--restart <policy>",
        "never | always | backoff[:initial=100ms,max=30s,multiplier=2,jitter=0.1,reset=60s,max-restarts=N]; default never",
        parseRestart,
      )
      .option(
        "--cap <spec>",
        "assign a capability: <capability>[@<provider>][#<binding>][=<permission>,…] (repeatable)",
        repeatable(parseCapSpec),
      )
      .option(
        "-e, --env <KEY=VALUE>",
        "set a guest environment variable (repeatable)",
        repeatable(parseEnvPair),
      )
      .option(
        "--memory <size>",
        `linear-memory cap, e.g. 64MiB; default ${formatBytes(DEFAULT_MAX_MEMORY_BYTES)}`,
        parseSize,
      )
      .option("--fuel <units>", `fuel budget per run or invocation; default ${DEFAULT_FUEL}`, parsePositive)
      .option(
        "--timeout <duration>",
        `wall-clock limit of each invocation, e.g. 2s; default ${formatDurationMs(DEFAULT_INVOKE_TIMEOUT_MS)}`,
        parseMs,
      )
      .option("--run-timeout <duration>", "wall-clock limit of a command's run; default none", parseMs)
      .option(
        "--label <key=value>",
        "label the instance (repeatable)",
        repeatable((t) => parsePair(t)),
      )
      .option(
        "--require-label <key=value>",
        "place only on a node with this label (repeatable)",
        repeatable((t) => parsePair(t, "a node label")),
      )
      .option(
        "--prefer-label <key=value>",
        "prefer nodes with this label (repeatable)",
        repeatable((t) => parsePair(t, "a node label")),
      )
      .option(
        "--tenant <name>",
        "the tenant the instance belongs to (admin tokens only; a tenant's token implies its own); default 'default'",
      )
      .option(
        "--config <KEY=VALUE>",
        "an Extism plugin's config value, read by config_get (repeatable)",
        repeatable(parseEnvPair),
      )
      .option(
        "--extism-manifest <file>",
        "start the Extism plugin a manifest names: its config, allowed_hosts (as an http assignment), memory.max_pages and timeout_ms",
      )
      .option(
        "--replicas <n>",
        "start <id>-1 … <id>-N, each labelled app=<id>, spread over the eligible nodes (needs --id)",
        parsePositive,
      )
      .option(
        "--max-concurrency <n>",
        `invocations of the instance running at once; more wait in its queue (default ${DEFAULT_MAX_CONCURRENCY})`,
        parsePositive,
      )
      .option(
        "--queue-depth <n>",
        `invocations that may wait; beyond it callers get RESOURCE_EXHAUSTED, HTTP 503 (default ${DEFAULT_QUEUE_DEPTH})`,
        parsePositive,
      )
      .option(
        "--signature <file>",
        "the module's signature (wasmatrix sign); default MODULE.sig when it sits beside the module",
      )
      .option("--json", "print the started instance as JSON")
      .addHelpText(
        "after",
        `
Capabilities and their permissions: keyvalue (kv:read, kv:write, kv:delete, kv:list), http
(http:request for any host, http:domain:<host> or http:domain:*.<host>), messaging
(msg:publish:<subject>, msg:subscribe:<subject>; * and > wildcards), logging (no permissions).
An instance can call only what it is assigned; \`wasmatrix caps\` changes that while it runs.

A server started with --trusted-keys runs only signed modules: \`wasmatrix sign MODULE --key K\`
writes MODULE.sig, which start sends along (or --signature FILE). The server refuses an unsigned
or badly signed module with MODULE_SIGNATURE_INVALID before compiling it.

\`wasmatrix start --id <id>\` with no module starts a stopped (or ended) instance again as it was
recorded: same module, args, env, limits, restart policy, capabilities and labels.

Exits 0 once the instance is placed and has started (or already ended: a command may finish
before the answer arrives; its status says so).

Examples:
  wasmatrix start examples/build/echo_reactor.wasm --id echo --restart always \\
    --cap keyvalue=kv:read,kv:write,kv:list --cap logging
  wasmatrix start examples/build/hello.wasm --id hello -e GREETING=hi -- alice bob
  wasmatrix start oci://127.0.0.1:5000/team/echo:1.0 --id echo   # see \`wasmatrix push --help\`
  wasmatrix start --id echo                     # again, after wasmatrix stop echo
  wasmatrix start examples/build/http_echo.wasm --id web --replicas 3 --max-concurrency 2 --queue-depth 32
  wasmatrix start worker.wasm --restart backoff:initial=200ms,max=10s,max-restarts=5 \\
    --memory 64MiB --fuel 1_000_000_000 --require-label zone=eu-1 --label app=worker
  wasmatrix start --extism-manifest manifest.json --id plugin --restart always
  wasmatrix start plugin.wasm --id plugin --config greeting=hi --cap http=http:domain:api.example.com`,
      ),
  ).action(
    async (modulePath: string | undefined, args: string[], options: StartOptions, command: Command) => {
      const manifest =
        options.extismManifest === undefined ? null : await readExtismManifest(options.extismManifest);
      const path = modulePath ?? manifest?.modulePath;
      if (path === undefined) {
        await startAgain(options, command);
        return;
      }
      const request = {
        instanceId: options.id ?? "",
        args: [basename(path), ...args],
        env: pairsToRecord(options.env),
        limits: {
          maxMemoryBytes: options.memory ?? manifest?.maxMemoryBytes ?? 0,
          fuel: options.fuel ?? 0,
          invokeTimeoutMs: options.timeout ?? manifest?.timeoutMs ?? 0,
          runTimeoutMs: options.runTimeout ?? 0,
          maxConcurrency: options.maxConcurrency ?? 0,
          queueDepth: options.queueDepth ?? 0,
        },
        ...(options.restart === undefined ? {} : { restartPolicy: restartPolicyToProto(options.restart) }),
        assignments: withManifestHosts(options.cap ?? [], manifest).map(assignmentToProto),
        ...extismOptions(options, manifest),
        labels: pairsToRecord(options.label),
        requiredNodeLabels: pairsToRecord(options.requireLabel),
        preferredNodeLabels: pairsToRecord(options.preferLabel),
        tenant: options.tenant ?? "",
      };
      const call = {
        timeoutMs: GUEST_TIMEOUT_MS,
        ...(options.id === undefined ? {} : { instanceId: options.id }),
      };
      await withClient(options, call, async (client) => {
        const source =
          modulePath === undefined && manifest !== null
            ? { module: Buffer.from(manifest.module) }
            : await moduleSource(path);
        // An oci:// module's signature travels with the artifact; the control plane reads it there.
        const moduleSignature = "moduleRef" in source ? "" : await readSignature(path, options.signature);
        if (options.replicas !== undefined) {
          const started = await startReplicas(
            client,
            { ...request, ...source, moduleSignature },
            options.id,
            options.replicas,
          );
          if (options.json) printJson(started.map(instanceJson));
          else print(instancesTable(started, Date.now()));
          return;
        }
        const instance = await client.startInstance(startRequest({ ...request, ...source, moduleSignature }));
        if (options.json) printJson(instanceJson(instance));
        else print(instancesTable([instance], Date.now()));
        if (!options.json && instance.status === "crashed") {
          printError(`hint: it crashed already; see why with \`wasmatrix inspect ${instance.instanceId}\`\n`);
        }
      });
    },
  );
}

/**
 * An `oci://` reference is pulled by the control plane (verified by digest, kept in its module
 * store); a file is read and checked here by the runtime's intake: an empty file would otherwise
 * read as a request without a module, and a broken one gets the words `wasmatrix run` gives it.
 */
async function moduleSource(modulePath: string): Promise<{ module: Buffer } | { moduleRef: string }> {
  if (isOciReference(modulePath)) {
    parseReference(modulePath);
    return { moduleRef: modulePath };
  }
  const module = await readFileArg(modulePath);
  const { validateModule } = await import("@wasmatrix/runtime");
  await validateModule(module);
  return { module };
}

/** The manifest's allowed_hosts as an http assignment, unless --cap assigns http itself. */
function withManifestHosts(
  caps: CapabilityAssignment[],
  manifest: ExtismManifest | null,
): CapabilityAssignment[] {
  const http = manifest?.http ?? null;
  if (http === null || caps.some((c) => c.capability === "http" && c.binding === http.binding)) return caps;
  return [...caps, http];
}

/** Config from the manifest, then --config; nothing at all for a module started without either. */
function extismOptions(
  options: StartOptions,
  manifest: ExtismManifest | null,
): { extism?: { config: Record<string, string>; maxVarBytes: number } } {
  if (manifest === null && options.config === undefined) return {};
  return {
    extism: {
      config: { ...manifest?.config, ...pairsToRecord(options.config) },
      maxVarBytes: manifest?.maxVarBytes ?? 0,
    },
  };
}

/**
 * `--replicas N --id NAME`: NAME-1 … NAME-N labelled app=NAME. Started one after another, so
 * placement (least loaded first) spreads them over the eligible nodes.
 */
async function startReplicas(
  client: ControlPlaneApi,
  request: Parameters<typeof startRequest>[0],
  name: string | undefined,
  replicas: number,
): Promise<Instance[]> {
  if (name === undefined) {
    throw new UsageError("--replicas needs --id NAME: the replicas are NAME-1 … NAME-N", "add --id <name>");
  }
  const started: Instance[] = [];
  for (let i = 1; i <= replicas; i++) {
    started.push(
      await client.startInstance(
        startRequest({ ...request, instanceId: `${name}-${i}`, labels: { ...request.labels, app: name } }),
      ),
    );
  }
  return started;
}

/** `--signature FILE` (which must exist), else MODULE.sig when there is one, else none. */
async function readSignature(modulePath: string, path: string | undefined): Promise<string> {
  if (path !== undefined) return (await readFileArg(path)).toString("utf8");
  return readFile(`${modulePath}.sig`, "utf8").catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return "";
    throw new UsageError(`cannot read ${modulePath}.sig: ${error.message}`);
  });
}

/** Options that only say where to start and how to print, which `start --id` without a module takes. */
const AGAIN_OPTIONS = new Set(["id", "server", "json"]);

/** `start --id X` without a module: the recorded instance X, started again as it was. */
async function startAgain(options: StartOptions, command: Command): Promise<void> {
  const id = options.id;
  const changed = command.options
    .filter(
      (o) =>
        !AGAIN_OPTIONS.has(o.attributeName()) && command.getOptionValueSource(o.attributeName()) === "cli",
    )
    .map((o) => o.long ?? o.flags);
  await withClient(
    options,
    { timeoutMs: GUEST_TIMEOUT_MS, ...(id === undefined ? {} : { instanceId: id }) },
    async (client) => {
      if (id === undefined) {
        throw new UsageError(
          "start needs the module's path, or --id of a stopped instance to start it again",
          "wasmatrix start <module.wasm> [--id <id>] or wasmatrix start --id <id>",
        );
      }
      if (changed.length > 0) {
        throw new UsageError(
          `without a module, start --id ${id} starts the instance again exactly as it was; ${changed.join(", ")} would change it`,
          `pass the module too to start it with other settings: wasmatrix start <module.wasm> --id ${id} …`,
        );
      }
      // An unknown id is refused here (INSTANCE_NOT_FOUND), one still active by the start (ALREADY_EXISTS).
      const { instance } = await client.queryInstance({ instanceId: id, factLimit: 0 });
      if (instance === undefined) {
        throw new WasmatrixError(ErrorCode.INSTANCE_NOT_FOUND, `no instance '${id}'`, { instanceId: id });
      }
      const started = await client.startInstance(startRequestFor(instance));
      if (options.json) printJson(instanceJson(started));
      else print(instancesTable([started], Date.now()));
    },
  );
}

import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import {
  type CapabilityAssignment,
  DEFAULT_FUEL,
  DEFAULT_INVOKE_TIMEOUT_MS,
  DEFAULT_MAX_MEMORY_BYTES,
  DEFAULT_MAX_OUTPUT_BYTES,
  ErrorCode,
  formatDurationMs,
  WasmatrixError,
} from "@wasmatrix/core";
import type { HostCallRouter, InstanceLimits, InvokeResult, Outcome } from "@wasmatrix/runtime";
import type { Command } from "commander";
import { EXIT, exitCodeFor } from "../exit-codes.js";
import { allowedHostsAssignment, type ExtismManifest, readExtismManifest } from "../extism-manifest.js";
import { unreadable } from "../files.js";
import { parsePreopen } from "../preopen.js";
import { formatBytes } from "../time-format.js";
import { parseBytes, parseCount, parseDuration, parseEnvPairs } from "../units.js";

interface RunOptions {
  env: string[];
  dir: string[];
  fuel?: string;
  timeout?: string;
  memory?: string;
  maxOutput?: string;
  invoke?: string;
  data?: string;
  json?: boolean;
  config: string[];
  allowHost: string[];
  allowPrivateHttp?: boolean;
  extismManifest?: string;
}

export function registerRun(program: Command): void {
  program
    .command("run")
    .description(
      "Run a WebAssembly module directly, as `wasmtime run` does: a WASI command, or one invocation of a waPC reactor",
    )
    .argument("[module]", "path to a .wasm file (or give --extism-manifest)")
    .argument("[args...]", "arguments passed to the guest (put them after --)")
    .option("-e, --env <KEY=VALUE>", "set a guest environment variable (repeatable)", collect, [])
    .option(
      "--dir <HOST[::GUEST][:ro]>",
      "let the guest use a host directory, at GUEST (default: HOST as written); :ro makes it read-only (repeatable)",
      collect,
      [],
    )
    .option("--fuel <units>", `fuel budget (about one unit per instruction); default ${DEFAULT_FUEL}`)
    .option(
      "--timeout <duration>",
      `wall-clock limit, e.g. 2s or 500ms; default: none for commands, ${formatDurationMs(DEFAULT_INVOKE_TIMEOUT_MS)} for --invoke`,
    )
    .option(
      "--memory <size>",
      `linear-memory cap, e.g. 64MiB; default ${formatBytes(DEFAULT_MAX_MEMORY_BYTES)}`,
    )
    .option(
      "--max-output <size>",
      `bytes of stdout/stderr kept for --json; default ${formatBytes(DEFAULT_MAX_OUTPUT_BYTES)}`,
    )
    .option(
      "--invoke <operation>",
      "invoke this operation on a waPC reactor, or call this function of an Extism plugin, instead of running _start",
    )
    .option(
      "--data <json|@file>",
      "payload for --invoke: a literal string (usually JSON) or @path to read a file",
    )
    .option(
      "--json",
      "print the outcome as JSON (guest output is captured into it instead of passed through)",
    )
    .option("--config <KEY=VALUE>", "an Extism plugin's config value (repeatable)", collect, [])
    .option(
      "--allow-host <host>",
      "a host an Extism plugin's http_request may reach: example.com, *.example.com or * (repeatable)",
      collect,
      [],
    )
    .option("--allow-private-http", "let http_request reach loopback and private addresses")
    .option(
      "--extism-manifest <file>",
      "run the plugin an Extism manifest names, with its config, allowed_hosts, memory.max_pages and timeout_ms",
    )
    .addHelpText(
      "after",
      `
Exit codes: the guest's own code for exit(n); 0 when an invocation succeeds; 1 when a reactor
answers with an error; 124 when fuel or the deadline runs out; 134 for any other crash (trap,
memory limit, stack overflow); 125 when wasmatrix cannot run the module at all.

Examples:
  wasmatrix run examples/build/hello.wasm -- alice bob
  wasmatrix run --dir ./data::/data --dir ./config::/etc/app:ro tool.wasm -- /data/in.txt
  wasmatrix run --fuel 1000000 --timeout 2s examples/build/loop.wasm
  wasmatrix run examples/build/echo_reactor.wasm --invoke upper --data '"hello"'
  wasmatrix run examples/build/extism_plugin.wasm --invoke greet --data world
  wasmatrix run plugin.wasm --invoke fetch --allow-host api.example.com --config key=value
  wasmatrix run --extism-manifest manifest.json --invoke greet --data world`,
    )
    .action(async (modulePath: string | undefined, args: string[], options: RunOptions) => {
      process.exitCode = await run(modulePath, args, options);
    });
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

async function readModule(path: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (error) {
    throw new WasmatrixError(ErrorCode.INVALID_REQUEST, unreadable(path, error).message, { path });
  }
}

async function readPayload(data: string | undefined): Promise<Uint8Array> {
  if (data === undefined) return new Uint8Array(0);
  if (data.startsWith("@")) return readModule(data.slice(1));
  return new TextEncoder().encode(data);
}

/** Flags win over the manifest's limits. */
function limitsFrom(options: RunOptions, manifest: ExtismManifest | null): Partial<InstanceLimits> {
  const timeoutMs = options.timeout === undefined ? manifest?.timeoutMs : parseDuration(options.timeout);
  const maxMemoryBytes = options.memory === undefined ? manifest?.maxMemoryBytes : parseBytes(options.memory);
  return {
    ...(options.fuel === undefined ? {} : { fuel: parseCount(options.fuel) }),
    ...(maxMemoryBytes === undefined ? {} : { maxMemoryBytes }),
    ...(options.maxOutput === undefined ? {} : { maxOutputBytes: parseBytes(options.maxOutput) }),
    ...(timeoutMs === undefined ? {} : { runTimeoutMs: timeoutMs, invokeTimeoutMs: timeoutMs }),
  };
}

async function run(modulePath: string | undefined, args: string[], options: RunOptions): Promise<number> {
  // Loaded here rather than at the top so that the other commands do not pay for the engine.
  const { describeCrash, Runtime } = await import("@wasmatrix/runtime");
  let runtime: InstanceType<typeof Runtime> | undefined;
  let closeRouter = async () => {};
  try {
    const manifest =
      options.extismManifest === undefined ? null : await readExtismManifest(options.extismManifest);
    const path = modulePath ?? manifest?.modulePath;
    if (path === undefined) {
      throw new WasmatrixError(
        ErrorCode.INVALID_REQUEST,
        "run needs a module: wasmatrix run <module.wasm>, or wasmatrix run --extism-manifest <manifest.json>",
      );
    }
    const http = allowedHostsAssignment(options.allowHost) ?? manifest?.http ?? null;
    const limits = limitsFrom(options, manifest);
    const router =
      http === null
        ? undefined
        : await httpRouter(http, options.allowPrivateHttp === true, limits.invokeTimeoutMs);
    if (router !== undefined) closeRouter = router.close;
    // Its output is its user's terminal (or pipe): every byte goes there, none is dropped.
    runtime = new Runtime({
      workers: 1,
      forwardAllOutput: true,
      ...(router === undefined ? {} : { hostCallRouter: router.router }),
    });
    const env = parseEnvPairs(options.env);
    const preopens = options.dir.map(parsePreopen);
    const compiled = await runtime.compile(
      modulePath === undefined && manifest !== null ? manifest.module : await readModule(path),
    );
    if (compiled.abi === "extism" && options.invoke === undefined) {
      throw new WasmatrixError(
        ErrorCode.INVALID_REQUEST,
        `${basename(path)} is an Extism plugin: name the function to call with --invoke <function> (and its input with --data)`,
      );
    }
    const kind = options.invoke === undefined ? "command" : "reactor";
    const config = { ...manifest?.config, ...parseEnvPairs(options.config) };
    const instance = await runtime.instantiate(compiled, {
      instanceId: "run",
      kind,
      args: [basename(path), ...args],
      env,
      preopens,
      limits,
      dedicatedWorker: true,
      extism: {
        config,
        ...(manifest?.maxVarBytes === undefined ? {} : { maxVarBytes: manifest.maxVarBytes }),
      },
    });
    if (!options.json) {
      instance.onOutput((fd, data) => (fd === 1 ? process.stdout : process.stderr).write(data));
    }
    let outcome: Outcome;
    let result: InvokeResult | undefined;
    if (instance.initOutcome !== null) {
      outcome = instance.initOutcome;
    } else if (options.invoke === undefined) {
      outcome = await instance.run();
    } else {
      result = await instance.invoke(options.invoke, await readPayload(options.data));
      outcome = result.outcome;
    }
    if (options.json) {
      const decoder = new TextDecoder();
      const report = {
        ...outcome,
        ...(result?.response === undefined ? {} : { response: decoder.decode(result.response) }),
        ...(result?.guestError === undefined ? {} : { guestError: result.guestError }),
        stdout: instance.stdout.text(),
        stderr: instance.stderr.text(),
      };
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    } else {
      if (result?.response !== undefined) {
        process.stdout.write(result.response);
        if (process.stdout.isTTY) process.stdout.write("\n");
      }
      if (result?.guestError !== undefined)
        process.stderr.write(`wasmatrix: guest error: ${result.guestError}\n`);
      if (outcome.status === "crashed" && outcome.reason !== "exit") {
        process.stderr.write(`wasmatrix: guest crashed: ${describeCrash(outcome)}: ${outcome.trap}\n`);
      }
    }
    if (result?.guestError !== undefined && outcome.status === "ok") return EXIT.GUEST_ERROR;
    return exitCodeFor(outcome);
  } catch (error) {
    const failure = WasmatrixError.from(error);
    if (options.json) {
      process.stdout.write(`${JSON.stringify({ status: "error", error: failure.toData() }, null, 2)}\n`);
    } else {
      process.stderr.write(`wasmatrix: ${failure.code}: ${failure.message}\n`);
    }
    return EXIT.USAGE;
  } finally {
    await runtime?.close();
    await closeRouter();
  }
}

/**
 * The node's own path for http calls — the assignment's permissions checked by the capability
 * router, then the HTTP provider — for the one instance `run` starts.
 */
async function httpRouter(
  assignment: CapabilityAssignment,
  allowPrivateAddresses: boolean,
  timeoutMs = DEFAULT_INVOKE_TIMEOUT_MS,
): Promise<{ router: HostCallRouter; close: () => Promise<void> }> {
  const [{ CapabilityRouter }, { HttpProvider }] = await Promise.all([
    import("@wasmatrix/node-agent"),
    import("@wasmatrix/providers"),
  ]);
  const provider = new HttpProvider({ allowPrivateAddresses });
  const counters = { hostCalls: 0, denied: 0, failed: 0 };
  const router = new CapabilityRouter(
    // One invocation per process: no request outlives the invocation's own timeout.
    () => ({ assignments: [assignment], counters, deadline: () => Date.now() + timeoutMs }),
    (a) => (a.capability === "http" ? provider : undefined),
  );
  return { router, close: () => provider.close() };
}

import { access, readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { startRequest } from "@wasmatrix/client";
import { DEFAULT_API_ADDRESS, parseAssignment } from "@wasmatrix/core";
import {
  assignmentToProto,
  type ControlPlaneApi,
  restartPolicyToProto,
  routeGrpcLog,
} from "@wasmatrix/proto";
import type { Command } from "commander";
import { type DaemonSecurityOptions, daemonSecurity, withDaemonSecurityOptions } from "../connection.js";
import {
  type AuthOptions,
  authBannerLine,
  authConfig,
  authOption,
  logLevelOption,
  natsOption,
  runUntilSignalled,
} from "../daemon.js";
import { CLUSTER_EXIT } from "../exit-codes.js";
import { failureFrom, formatFailure } from "../failure.js";
import {
  type MetricsFlags,
  metricsInstanceLabelsOption,
  metricsOption,
  startDaemonMetrics,
  UP_METRICS_ADDRESS,
} from "../metrics-option.js";
import { parseLabelList, parseMs, parseSize, usage } from "../options.js";
import { print, printError } from "../output.js";
import {
  auditFileIn,
  loadTrustedKeys,
  prepareStateDir,
  stateDirOption,
  trustedKeysOption,
} from "../security-options.js";
import { parseCount } from "../units.js";
import { DEFAULT_HTTP_ADDRESS, gatewayTls } from "./gateway.js";

interface UpOptions extends AuthOptions, DaemonSecurityOptions, MetricsFlags {
  listen: string;
  nodeId?: string;
  labels?: Record<string, string>;
  example?: boolean;
  allowPrivateHttp?: boolean;
  nats?: string;
  logLevel: string;
  stopDeadline?: number;
  maxInstances?: number;
  dataDir?: string;
  http: string;
  httpTlsCert?: string;
  httpTlsKey?: string;
  httpInsecure?: boolean;
  maxBody?: number;
  trustedKeys?: string;
  stateDir?: string;
}

/**
 * The module `--example` starts: beside the bundle that runs (the bundler copies it there, so an
 * installed CLI has it), else in the checkout's examples/build, relative to the bundle in
 * node_modules/.cache.
 */
const EXAMPLE_CANDIDATES = [
  new URL("./echo_reactor.wasm", import.meta.url),
  new URL("../../../../examples/build/echo_reactor.wasm", import.meta.url),
].map((url) => fileURLToPath(url));

async function exampleModule(): Promise<string | null> {
  for (const path of EXAMPLE_CANDIDATES) if (await exists(path)) return path;
  return null;
}
const EXAMPLE_ID = "echo";
const EXAMPLE_CAPS = ["keyvalue=kv:read,kv:write,kv:list", "logging"];

/** How long stopping every instance may take on Ctrl-C before the process exits regardless. */
const DEFAULT_STOP_DEADLINE_MS = 5_000;

export function registerUp(program: Command): void {
  withDaemonSecurityOptions(program.command("up"))
    .description(
      "Run a single-node cluster in the foreground: control plane, node agent and local providers (in-memory keyvalue, HTTP) in one process, serving the gRPC API",
    )
    .option(
      "--listen <address>",
      "address to serve the API on (port 0 picks a free one)",
      DEFAULT_API_ADDRESS,
    )
    .option("--node-id <id>", "id of the embedded node; generated when omitted")
    .option(
      "--labels <k=v,...>",
      "labels of the node, for placement (--require-label on start)",
      usage(parseLabelList),
    )
    .option("--example", `also start examples/build/echo_reactor.wasm as instance '${EXAMPLE_ID}'`)
    .option(
      "--allow-private-http",
      "let the http capability reach private and loopback addresses (refused by default)",
    )
    .addOption(natsOption("without it, in-memory keyvalue and messaging on an in-process bus"))
    .option(
      "--max-instances <n>",
      "instances the node runs at most; starts past it are refused with RESOURCE_EXHAUSTED (default: what one runtime process holds, 12000)",
      usage(parseCount),
    )
    .option(
      "--data-dir <dir>",
      "where instances' files live (the filesystem capability: fs:read|write:<guest path>); without it the node does not serve that capability",
    )
    .option(
      "--http <address>",
      "serve the HTTP gateway here (routes: wasmatrix route add); 'off' turns it off",
      DEFAULT_HTTP_ADDRESS,
    )
    .option("--http-tls-cert <file>", "PEM certificate: serve the gateway over HTTPS")
    .option("--http-tls-key <file>", "PEM private key of --http-tls-cert")
    .option("--http-insecure", "serve plain HTTP beyond loopback (refused otherwise)")
    .option(
      "--max-body <size>",
      "largest HTTP request body; larger ones get 413 (default 1MiB)",
      usage(parseSize),
    )
    .addOption(trustedKeysOption())
    .addOption(stateDirOption())
    .addOption(logLevelOption())
    .addOption(authOption())
    .addOption(metricsOption(UP_METRICS_ADDRESS))
    .addOption(metricsInstanceLabelsOption())
    .option(
      "--stop-deadline <duration>",
      `on Ctrl-C or SIGTERM, how long instances get to finish before they are stopped by force; default ${DEFAULT_STOP_DEADLINE_MS / 1000}s`,
      usage(parseMs),
    )
    .addHelpText(
      "after",
      `
No etcd, no NATS: state lives in this process and ends with it, except the audit log of every
control action, appended to <state dir>/audit.jsonl (\`wasmatrix audit\`); messaging (guest
publish and request, subscriptions, queue triggers) runs on an in-process bus. With
--trusted-keys, only modules signed by one of those keys start (\`wasmatrix sign\`; --example
needs its .sig too). Other commands reach it at the
--listen address (set WASMATRIX_SERVER or --server when it is not ${DEFAULT_API_ADDRESS}).
Without --auth anyone who reaches the address may call the API. A non-loopback --listen needs
mutual TLS (--tls-ca/--tls-cert/--tls-key, made by \`wasmatrix certs\`) or --insecure, which lets
anyone who reaches the address use it (docs/security.md); use --auth with either.
Ctrl-C or SIGTERM stops every instance (within --stop-deadline), closes the server and exits 0.

Examples:
  wasmatrix up
  wasmatrix up --example
  wasmatrix up --auth --state-dir ./state       # tokens required; ./state/admin.token on first start
  wasmatrix up --metrics 127.0.0.1:9500      # or --metrics off
  wasmatrix up --http 127.0.0.1:8081 --max-body 4MiB      # or --http off
  wasmatrix up --data-dir ./wasmatrix-data     # instances may then be given filesystem=fs:write:/data
  wasmatrix up --listen 0.0.0.0:7400 --node-id edge-1 --labels zone=eu-1,arch=x64 --log-level debug \\
    --tls-ca pki/ca.crt --tls-cert pki/control-plane.crt --tls-key pki/control-plane.key`,
    )
    .action(async (options: UpOptions) => {
      const code = await up(options);
      // A daemon's end: whatever a library left scheduled must not keep the process alive.
      process.exit(code);
    });
}

async function up(options: UpOptions): Promise<number> {
  const example = options.example ? await exampleModule() : null;
  if (options.example && example === null) {
    printError(
      formatFailure({
        exitCode: CLUSTER_EXIT.FAILED,
        message: `--example needs examples/build/echo_reactor.wasm, which is missing (looked in ${EXAMPLE_CANDIDATES.join(", ")})`,
        hint: "build the examples with: npm run build:examples",
      }),
    );
    return CLUSTER_EXIT.FAILED;
  }
  // Loaded on demand: the embedded cluster pulls in the runtime, providers and control plane.
  const [{ createEmbedded }, { createLogger }] = await Promise.all([
    import("@wasmatrix/embedded"),
    import("@wasmatrix/core/logger"),
  ]);
  const logger = createLogger("wasmatrix-up", { level: options.logLevel });
  routeGrpcLog((message) => logger.debug({ from: "grpc-js" }, message));
  const stopDeadlineMs = options.stopDeadline ?? DEFAULT_STOP_DEADLINE_MS;
  let embedded: Awaited<ReturnType<typeof createEmbedded>> | null = null;
  let metrics: Awaited<ReturnType<typeof startDaemonMetrics>> | null = null;
  let closeGateway: () => Promise<void> = async () => {};
  try {
    metrics = await startDaemonMetrics(options, logger, UP_METRICS_ADDRESS);
    embedded = await createEmbedded({
      ...(metrics.metrics === undefined ? {} : { metrics: metrics.metrics }),
      ...(options.nodeId === undefined ? {} : { nodeId: options.nodeId }),
      labels: options.labels ?? {},
      logger,
      node: {
        stopDeadlineMs,
        ...(options.maxInstances === undefined ? {} : { maxInstances: options.maxInstances }),
        ...(options.dataDir === undefined ? {} : { dataDir: resolve(options.dataDir) }),
      },
      http: { allowPrivateAddresses: options.allowPrivateHttp === true },
      ...(options.nats === undefined ? {} : { nats: options.nats }),
      auditFile: auditFileIn(prepareStateDir(options.stateDir)),
      ...(options.trustedKeys === undefined ? {} : { trustedKeys: loadTrustedKeys(options.trustedKeys) }),
      ...authConfig(options),
    });
    const server = await embedded.serve(options.listen, daemonSecurity(options));
    let httpAddress: string | null = null;
    if (options.http !== "off") {
      const { startGateway } = await import("@wasmatrix/gateway");
      const tls = await gatewayTls(options.httpTlsCert, options.httpTlsKey);
      const gateway = await startGateway({
        api: embedded.client,
        listen: options.http,
        logger,
        insecure: options.httpInsecure === true || options.insecure === true,
        ...(tls === undefined ? {} : { tls }),
        ...(options.maxBody === undefined ? {} : { maxBodyBytes: options.maxBody }),
      });
      httpAddress = gateway.address;
      closeGateway = () => gateway.close();
    }
    if (example !== null) await startExample(embedded.client, example);
    print(
      banner(
        server.address,
        embedded.agent.nodeId,
        options,
        metrics.address,
        httpAddress,
        embedded.tokens?.adminTokenPath,
      ),
    );
    logger.info({ address: server.address, nodeId: embedded.agent.nodeId }, "serving");
  } catch (error) {
    const failure = failureFrom(error);
    printError(formatFailure(failure));
    await closeGateway().catch(() => undefined);
    await embedded?.close().catch(() => undefined);
    await metrics?.close();
    return failure.exitCode;
  }
  const [cluster, served] = [embedded, metrics];
  // The gateway stops taking requests before the instances behind it stop.
  return runUntilSignalled(
    async () => {
      await closeGateway();
      await cluster.close();
      await served.close();
    },
    logger,
    stopDeadlineMs,
  );
}

async function startExample(client: ControlPlaneApi, path: string): Promise<void> {
  const signature = await readFile(`${path}.sig`, "utf8").catch(() => "");
  await client.startInstance(
    startRequest({
      instanceId: EXAMPLE_ID,
      module: await readFile(path),
      moduleSignature: signature,
      restartPolicy: restartPolicyToProto({ kind: "always" }),
      assignments: EXAMPLE_CAPS.map((spec) => assignmentToProto(parseAssignment(spec))),
    }),
  );
}

function banner(
  address: string,
  nodeId: string,
  options: UpOptions,
  metrics: string | null,
  http: string | null,
  adminTokenPath?: string,
): string {
  const lines = [
    `wasmatrix is up: control plane, node agent and local providers in this process`,
    `  server   ${address}`,
    `  node     ${nodeId}`,
    `  metrics  ${metrics === null ? "off" : `http://${metrics}/metrics`}`,
    `  http     ${http === null ? "off" : `${options.httpTlsCert === undefined ? "http" : "https"}://${http} (wasmatrix route add …)`}`,
  ];
  if (options.auth) lines.push(`  auth     ${authBannerLine(adminTokenPath, options.stateDir)}`);
  if (options.example)
    lines.push(`  example  instance '${EXAMPLE_ID}' (examples/build/echo_reactor.wasm, restart always)`);
  lines.push("", "Try, in another terminal:");
  if (address !== DEFAULT_API_ADDRESS) lines.push(`  export WASMATRIX_SERVER=${address}`);
  if (options.example) {
    lines.push(`  wasmatrix invoke ${EXAMPLE_ID} upper --data hello`);
    lines.push(`  wasmatrix invoke ${EXAMPLE_ID} kv_counter`);
  } else {
    lines.push(
      `  wasmatrix start examples/build/echo_reactor.wasm --id echo --cap keyvalue=kv:read,kv:write,kv:list`,
    );
    lines.push(`  wasmatrix invoke echo upper --data hello`);
  }
  lines.push(`  wasmatrix ps`, `  wasmatrix events --follow`, "", "Ctrl-C stops it.", "");
  return lines.join("\n");
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

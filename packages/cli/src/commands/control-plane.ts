import { DEFAULT_API_ADDRESS } from "@wasmatrix/core";
import { parseEndpoints } from "@wasmatrix/etcd";
import { type Command, Option } from "commander";
import { type DaemonSecurityOptions, daemonSecurity, withDaemonSecurityOptions } from "../connection.js";
import {
  type AuthOptions,
  applyConfigFile,
  authBannerLine,
  authConfig,
  authOption,
  configOption,
  formatBanner,
  type LogFormat,
  logFormatOption,
  logLevelOption,
  runUntilSignalled,
  wantsBanner,
} from "../daemon.js";
import { failureFrom, formatFailure } from "../failure.js";
import {
  type MetricsFlags,
  metricsInstanceLabelsOption,
  metricsOption,
  startDaemonMetrics,
} from "../metrics-option.js";
import { parseMs, usage } from "../options.js";
import { print, printError } from "../output.js";
import {
  auditFileIn,
  loadTrustedKeys,
  prepareStateDir,
  stateDirOption,
  trustedKeysOption,
} from "../security-options.js";
import { formatElapsed } from "../time-format.js";

interface ControlPlaneOptions extends AuthOptions, DaemonSecurityOptions, MetricsFlags {
  listen: string;
  heartbeatInterval?: number;
  staticNodes?: string[];
  etcdEndpoints?: string[];
  nats?: string;
  routesFile?: string;
  trustedKeys?: string;
  stateDir?: string;
  logLevel: string;
  logFormat?: LogFormat;
  config?: string;
}

const parseAddressList = (text: string): string[] =>
  text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");

export function registerControlPlane(program: Command): void {
  withDaemonSecurityOptions(program.command("control-plane"))
    .description(
      "Run the control plane as a daemon: node agents register and report to it; clients call its API",
    )
    .addOption(
      new Option("--listen <address>", "address to serve the API on")
        .env("WASMATRIX_LISTEN")
        .default(DEFAULT_API_ADDRESS),
    )
    .addOption(
      new Option(
        "--heartbeat-interval <duration>",
        "how often nodes report; 3 missed intervals make a node lost (default 1s)",
      )
        .env("WASMATRIX_HEARTBEAT_INTERVAL")
        .argParser(usage(parseMs)),
    )
    .addOption(
      new Option("--static-nodes <addr,...>", "node agents to poll instead of waiting for them to register")
        .env("WASMATRIX_STATIC_NODES")
        .argParser(parseAddressList),
    )
    .addOption(
      new Option(
        "--etcd-endpoints <host:port,...>",
        "find node agents in etcd (registered there under leases) instead of waiting for them to register",
      )
        .env("WASMATRIX_ETCD_ENDPOINTS")
        .argParser(usage(parseEndpoints)),
    )
    .addOption(authOption())
    .addOption(
      new Option("--nats <url>", "NATS server(s), comma-separated, where queue triggers subscribe").env(
        "WASMATRIX_NATS",
      ),
    )
    .addOption(
      new Option(
        "--routes-file <path>",
        "keep HTTP routes in this file so they survive a restart (default: in memory only; ignored with --etcd-endpoints, where routes live in etcd)",
      ).env("WASMATRIX_ROUTES_FILE"),
    )
    .addOption(trustedKeysOption())
    .addOption(stateDirOption())
    .addOption(logLevelOption())
    .addOption(logFormatOption())
    .addOption(configOption())
    .addOption(metricsOption())
    .addOption(metricsInstanceLabelsOption())
    .addHelpText(
      "after",
      `
Triggers (wasmatrix trigger …) and HTTP routes (wasmatrix route …) are kept in etcd when
--etcd-endpoints is given, and then survive a restart and are shared by every control plane;
without etcd triggers live in this process only, and routes too unless --routes-file is given.
Queue triggers need --nats.

Every control action is appended to <state dir>/audit.jsonl (\`wasmatrix audit\`). With
--trusted-keys, only modules signed by one of those keys start (\`wasmatrix sign\`).
Apart from that log and HTTP routes, the control plane keeps no state of its own: it learns nodes
from their registrations and heartbeats (or from etcd), and instances from the nodes' reports.
Without etcd, give --routes-file to keep routes across restarts (with etcd, etcd wins and the
file is ignored). Restart it at any time;
nothing running stops. Several control planes may share one etcd; a client may talk to any of them.

Examples:
  wasmatrix control-plane --listen 127.0.0.1:7400
  wasmatrix control-plane --heartbeat-interval 500ms --static-nodes 10.0.0.5:7401,10.0.0.6:7401
  wasmatrix control-plane --etcd-endpoints 10.0.0.2:2379,10.0.0.3:2379
  wasmatrix control-plane --auth --state-dir /var/lib/wasmatrix   # share the dir (its key) between control planes
  wasmatrix control-plane --metrics 127.0.0.1:9465
  wasmatrix control-plane --config /etc/wasmatrix/control-plane.json`,
    )
    .action(async (options: ControlPlaneOptions, command: Command) => {
      applyConfigFile(command, options.config);
      process.exit(await controlPlane(command.opts<ControlPlaneOptions>()));
    });
}

async function controlPlane(options: ControlPlaneOptions): Promise<number> {
  const [{ startControlPlaneDaemon }, { createLogger }, { routeGrpcLog }] = await Promise.all([
    import("@wasmatrix/daemons"),
    import("@wasmatrix/core/logger"),
    import("@wasmatrix/proto"),
  ]);
  const logger = createLogger("wasmatrix-control-plane", { level: options.logLevel });
  routeGrpcLog((message) => logger.debug({ from: "grpc-js" }, message));
  let metrics: Awaited<ReturnType<typeof startDaemonMetrics>> | null = null;
  try {
    metrics = await startDaemonMetrics(options, logger);
    const daemon = await startControlPlaneDaemon({
      listen: options.listen,
      ...daemonSecurity(options),
      logger,
      ...(metrics.metrics === undefined ? {} : { metrics: metrics.metrics }),
      ...(options.heartbeatInterval === undefined ? {} : { heartbeatIntervalMs: options.heartbeatInterval }),
      staticNodes: options.staticNodes ?? [],
      etcdEndpoints: options.etcdEndpoints ?? [],
      ...(options.nats === undefined ? {} : { nats: options.nats }),
      ...(options.routesFile === undefined ? {} : { routesFile: options.routesFile }),
      auditFile: auditFileIn(prepareStateDir(options.stateDir)),
      ...(options.trustedKeys === undefined ? {} : { trustedKeys: loadTrustedKeys(options.trustedKeys) }),
      ...authConfig(options),
    });
    const adminTokenPath = daemon.tokens?.adminTokenPath;
    // Said in the log too: a daemon's stdout banner may go nowhere.
    if (adminTokenPath !== undefined) logger.info({ path: adminTokenPath }, "wrote the first admin token");
    if (wantsBanner(options.logFormat)) print(banner(daemon.address, options, adminTokenPath));
    const served = metrics;
    return runUntilSignalled(
      async () => {
        await daemon.close();
        await served.close();
      },
      logger,
      2_000,
    );
  } catch (error) {
    await metrics?.close();
    const failure = failureFrom(error);
    printError(formatFailure(failure));
    return failure.exitCode;
  }
}

function banner(address: string, options: ControlPlaneOptions, adminTokenPath: string | undefined): string {
  const nodes =
    (options.etcdEndpoints ?? []).length > 0
      ? `found in etcd at ${options.etcdEndpoints!.join(",")}`
      : (options.staticNodes ?? []).length > 0
        ? `polled at ${options.staticNodes!.join(",")}`
        : "register here (wasmatrix node-agent --control-plane …)";
  return formatBanner(
    "wasmatrix control plane is up: node agents register and report here; clients call its API",
    [
      ["server", address],
      ["nodes", nodes],
      ["heartbeat", `${formatElapsed(options.heartbeatInterval ?? 1_000)} (a node silent for 3 is lost)`],
      ...(options.auth ? [["auth", authBannerLine(adminTokenPath, options.stateDir)] as const] : []),
    ],
    [
      ...(address === DEFAULT_API_ADDRESS ? [] : [`export WASMATRIX_SERVER=${address}`]),
      `wasmatrix node-agent --control-plane ${address} --listen 127.0.0.1:7401 --labels zone=a`,
      "wasmatrix nodes",
      "wasmatrix events --follow",
    ],
  );
}

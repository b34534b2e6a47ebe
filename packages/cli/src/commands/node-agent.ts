import { resolve } from "node:path";
import { DEFAULT_NODE_AGENT_ADDRESS } from "@wasmatrix/core";
import { parseEndpoints } from "@wasmatrix/etcd";
import { type Command, Option } from "commander";
import { type DaemonSecurityOptions, daemonSecurity, withDaemonSecurityOptions } from "../connection.js";
import {
  applyConfigFile,
  configOption,
  formatBanner,
  type LogFormat,
  logFormatOption,
  logLevelOption,
  natsOption,
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
import { parseLabelList, parseMs, usage } from "../options.js";
import { print, printError } from "../output.js";
import { formatLabels } from "../render.js";
import { loadTrustedKeys, trustedKeysOption } from "../security-options.js";
import { parseCount } from "../units.js";

interface NodeAgentOptions extends DaemonSecurityOptions, MetricsFlags {
  controlPlane?: string;
  token?: string;
  etcdEndpoints?: string[];
  heartbeatInterval?: number;
  listen: string;
  advertise?: string;
  nodeId?: string;
  labels?: Record<string, string>;
  allowPrivateHttp?: boolean;
  nats?: string;
  stopDeadline?: number;
  maxInstances?: number;
  dataDir?: string;
  trustedKeys?: string;
  logLevel: string;
  logFormat?: LogFormat;
  config?: string;
}
const DEFAULT_STOP_DEADLINE_MS = 5_000;

export function registerNodeAgent(program: Command): void {
  withDaemonSecurityOptions(program.command("node-agent"))
    .description("Run a node agent as a daemon: it runs instances and reports them to the control plane")
    .addOption(
      new Option(
        "--control-plane <address>",
        "control plane to register with (omit for a node on a static list)",
      ).env("WASMATRIX_CONTROL_PLANE"),
    )
    .addOption(
      new Option("--token <token>", "API token for a control plane started with --auth").env(
        "WASMATRIX_TOKEN",
      ),
    )
    .addOption(
      new Option(
        "--etcd-endpoints <host:port,...>",
        "register this node in etcd under a lease; control planes watching etcd find it there",
      )
        .env("WASMATRIX_ETCD_ENDPOINTS")
        .argParser(usage(parseEndpoints)),
    )
    .addOption(
      new Option(
        "--heartbeat-interval <duration>",
        "pace until a control plane sets one; the etcd lease lasts 3 intervals, at least 2s (default 1s)",
      )
        .env("WASMATRIX_HEARTBEAT_INTERVAL")
        .argParser(usage(parseMs)),
    )
    .addOption(
      new Option("--listen <address>", "address to serve the node API on")
        .env("WASMATRIX_LISTEN")
        .default(DEFAULT_NODE_AGENT_ADDRESS),
    )
    .addOption(
      new Option(
        "--advertise <address>",
        "address the control plane should use to reach this node (default: --listen)",
      ).env("WASMATRIX_ADVERTISE"),
    )
    .addOption(
      new Option("--node-id <id>", "this node's id; generated when omitted").env("WASMATRIX_NODE_ID"),
    )
    .addOption(
      new Option("--labels <k=v,...>", "labels for placement, e.g. zone=a,arch=x86_64")
        .env("WASMATRIX_LABELS")
        .argParser(usage(parseLabelList)),
    )
    .option("--allow-private-http", "let the http capability reach private and loopback addresses")
    .addOption(natsOption())
    .addOption(
      new Option(
        "--stop-deadline <duration>",
        "on SIGTERM, how long instances get before they are stopped by force",
      )
        .env("WASMATRIX_STOP_DEADLINE")
        .argParser(usage(parseMs)),
    )
    .addOption(
      new Option(
        "--max-instances <n>",
        "instances this node runs at most; placement passes it over when full, and starts past it are refused with RESOURCE_EXHAUSTED (default: what one runtime process holds, 12000)",
      )
        .env("WASMATRIX_MAX_INSTANCES")
        .argParser(usage(parseCount)),
    )
    .addOption(
      new Option(
        "--data-dir <dir>",
        "where instances' files live (the filesystem capability, one directory per tenant and instance); without it the node does not serve that capability",
      ).env("WASMATRIX_DATA_DIR"),
    )
    .addOption(trustedKeysOption())
    .addOption(logLevelOption())
    .addOption(logFormatOption())
    .addOption(configOption())
    .addOption(metricsOption())
    .addOption(metricsInstanceLabelsOption())
    .addHelpText(
      "after",
      `
SIGTERM stops every instance (within --stop-deadline), reports that, deregisters (revoking its
etcd lease, so its key goes at once) and exits 0. A node killed outright leaves etcd when its
lease expires: 3 s with the default heartbeat.

Examples:
  wasmatrix node-agent --control-plane 127.0.0.1:7400 --listen 127.0.0.1:7401 --labels zone=a
  wasmatrix node-agent --control-plane 127.0.0.1:7400 --data-dir /var/lib/wasmatrix
  wasmatrix node-agent --etcd-endpoints 10.0.0.2:2379 --listen 0.0.0.0:7401 --advertise 10.0.0.5:7401
  wasmatrix node-agent --control-plane 127.0.0.1:7400 --listen 127.0.0.1:7401 --metrics 127.0.0.1:9466
  WASMATRIX_CONTROL_PLANE=10.0.0.1:7400 wasmatrix node-agent --listen 0.0.0.0:7401 --advertise 10.0.0.5:7401`,
    )
    .action(async (options: NodeAgentOptions, command: Command) => {
      applyConfigFile(command, options.config);
      process.exit(await nodeAgent(command.opts<NodeAgentOptions>()));
    });
}

async function nodeAgent(options: NodeAgentOptions): Promise<number> {
  const [{ startNodeDaemon }, { createLogger }, { localProviders }] = await Promise.all([
    import("@wasmatrix/daemons"),
    import("@wasmatrix/core/logger"),
    import("@wasmatrix/providers"),
  ]);
  const logger = createLogger("wasmatrix-node-agent", { level: options.logLevel });
  const { routeGrpcLog } = await import("@wasmatrix/proto");
  routeGrpcLog((message) => logger.debug({ from: "grpc-js" }, message));
  const stopDeadlineMs = options.stopDeadline ?? DEFAULT_STOP_DEADLINE_MS;
  const local = localProviders({
    http: { allowPrivateAddresses: options.allowPrivateHttp === true },
    ...(options.nats === undefined ? {} : { nats: options.nats }),
    ...(options.nodeId === undefined ? {} : { name: `wasmatrix-${options.nodeId}` }),
  });
  let metrics: Awaited<ReturnType<typeof startDaemonMetrics>> | null = null;
  try {
    metrics = await startDaemonMetrics(options, logger);
    const served = metrics;
    const daemon = await startNodeDaemon({
      ...(served.metrics === undefined ? {} : { metrics: served.metrics }),
      listen: options.listen,
      ...daemonSecurity(options),
      ...(options.advertise === undefined ? {} : { advertise: options.advertise }),
      ...(options.controlPlane === undefined ? {} : { controlPlane: options.controlPlane }),
      ...(options.token === undefined ? {} : { controlPlaneToken: options.token }),
      ...(options.etcdEndpoints === undefined ? {} : { etcdEndpoints: options.etcdEndpoints }),
      ...(options.heartbeatInterval === undefined ? {} : { heartbeatIntervalMs: options.heartbeatInterval }),
      ...(options.nodeId === undefined ? {} : { nodeId: options.nodeId }),
      labels: options.labels ?? {},
      stopDeadlineMs,
      ...(options.maxInstances === undefined ? {} : { maxInstances: options.maxInstances }),
      ...(options.dataDir === undefined ? {} : { dataDir: resolve(options.dataDir) }),
      providers: local.providers,
      ...(options.trustedKeys === undefined ? {} : { trustedKeys: loadTrustedKeys(options.trustedKeys) }),
      logger,
    });
    if (wantsBanner(options.logFormat)) print(banner(daemon.address, daemon.agent.nodeId, options));
    return runUntilSignalled(
      async () => {
        await daemon.close(stopDeadlineMs);
        await local.close();
        await served.close();
      },
      logger,
      stopDeadlineMs,
    );
  } catch (error) {
    await local.close().catch(() => undefined);
    await metrics?.close();
    const failure = failureFrom(error);
    printError(formatFailure(failure));
    return failure.exitCode;
  }
}

function banner(address: string, nodeId: string, options: NodeAgentOptions): string {
  const reports =
    options.controlPlane !== undefined
      ? `to the control plane at ${options.controlPlane}`
      : (options.etcdEndpoints ?? []).length > 0
        ? `through etcd at ${options.etcdEndpoints!.join(",")}`
        : "none: it waits to be polled (a control plane's --static-nodes)";
  const server = options.controlPlane ?? "<control plane>";
  return formatBanner(
    "wasmatrix node agent is up: it runs instances and reports them",
    [
      ["node", nodeId],
      ["listen", address],
      ["labels", formatLabels(options.labels ?? {})],
      ["reports", reports],
    ],
    [
      `wasmatrix nodes --server ${server}`,
      `wasmatrix start examples/build/echo_reactor.wasm --id echo --server ${server}`,
    ],
  );
}

import {
  DEFAULT_API_ADDRESS,
  DEFAULT_PROVIDER_ADDRESS,
  isProvidedCapabilityKind,
  PROVIDED_CAPABILITY_KINDS,
  type ProvidedCapabilityKind,
} from "@wasmatrix/core";
import { parseEndpoints } from "@wasmatrix/etcd";
import { type Command, Option } from "commander";
import { type DaemonSecurityOptions, daemonSecurity, withDaemonSecurityOptions } from "../connection.js";
import { applyConfigFile, configOption, logLevelOption, natsOption, runUntilSignalled } from "../daemon.js";
import { failureFrom, formatFailure } from "../failure.js";
import {
  type MetricsFlags,
  metricsInstanceLabelsOption,
  metricsOption,
  startDaemonMetrics,
} from "../metrics-option.js";
import { parseMs, usage } from "../options.js";
import { printError } from "../output.js";

interface ProviderOptions extends DaemonSecurityOptions, MetricsFlags {
  controlPlane?: string;
  token?: string;
  etcdEndpoints?: string[];
  listen: string;
  advertise?: string;
  id?: string;
  nats?: string;
  allowPrivateHttp?: boolean;
  heartbeatInterval?: number;
  logLevel: string;
  config?: string;
}

export function registerProvider(program: Command): void {
  withDaemonSecurityOptions(program.command("provider"))
    .description(
      "Run a capability provider as a process of its own, for node agents that do not serve it locally",
    )
    .argument("<capability>", `one of ${PROVIDED_CAPABILITY_KINDS.join(", ")}`)
    .addOption(
      new Option(
        "--control-plane <address>",
        `control plane to register with (default ${DEFAULT_API_ADDRESS} unless --etcd-endpoints)`,
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
        "keep the provider's record in etcd under a lease; control planes watching etcd offer it to nodes",
      )
        .env("WASMATRIX_ETCD_ENDPOINTS")
        .argParser(usage(parseEndpoints)),
    )
    .addOption(
      new Option("--listen <address>", "address to serve calls on")
        .env("WASMATRIX_LISTEN")
        .default(DEFAULT_PROVIDER_ADDRESS),
    )
    .addOption(
      new Option("--advertise <address>", "address node agents should use (default: --listen)").env(
        "WASMATRIX_ADVERTISE",
      ),
    )
    .addOption(
      new Option("--id <provider-id>", "the provider's id, named in assignments as <capability>@<id>").env(
        "WASMATRIX_PROVIDER_ID",
      ),
    )
    .addOption(natsOption())
    .option("--allow-private-http", "let the http capability reach private and loopback addresses")
    .addOption(
      new Option(
        "--heartbeat-interval <duration>",
        "how often it announces itself to the control plane (default 1s)",
      )
        .env("WASMATRIX_HEARTBEAT_INTERVAL")
        .argParser(usage(parseMs)),
    )
    .addOption(logLevelOption())
    .addOption(configOption())
    .addOption(metricsOption())
    .addOption(metricsInstanceLabelsOption())
    .addHelpText(
      "after",
      `
It serves only node agents the control plane lists as alive, and checks each call's permission
again. A guest reaches it through an assignment naming it (keyvalue@kv-1=kv:read,...) or, for a
capability its node does not serve, through any live provider of that capability.

Examples:
  wasmatrix provider keyvalue --id kv-1 --control-plane 127.0.0.1:7400 --listen 127.0.0.1:7402
  wasmatrix provider messaging --nats nats://127.0.0.1:4222 --id bus
  wasmatrix provider http --etcd-endpoints 10.0.0.2:2379 --listen 0.0.0.0:7402 --advertise 10.0.0.7:7402`,
    )
    .action(async (capability: string, options: ProviderOptions, command: Command) => {
      if (!isProvidedCapabilityKind(capability)) {
        command.error(`error: capability must be one of ${PROVIDED_CAPABILITY_KINDS.join(", ")}`, {
          exitCode: 2,
        });
      }
      applyConfigFile(command, options.config);
      process.exit(await provider(capability, command.opts<ProviderOptions>()));
    });
}

async function provider(capability: ProvidedCapabilityKind, options: ProviderOptions): Promise<number> {
  const [{ startProviderDaemon }, { createLogger }] = await Promise.all([
    import("@wasmatrix/daemons"),
    import("@wasmatrix/core/logger"),
  ]);
  const logger = createLogger("wasmatrix-provider", { level: options.logLevel });
  let metrics: Awaited<ReturnType<typeof startDaemonMetrics>> | null = null;
  try {
    metrics = await startDaemonMetrics(options, logger);
    const served = metrics;
    const daemon = await startProviderDaemon({
      capability,
      ...daemonSecurity(options),
      ...(served.metrics === undefined ? {} : { metrics: served.metrics }),
      ...(options.controlPlane !== undefined || options.etcdEndpoints !== undefined
        ? {}
        : { controlPlane: DEFAULT_API_ADDRESS }),
      ...(options.controlPlane === undefined ? {} : { controlPlane: options.controlPlane }),
      ...(options.token === undefined ? {} : { controlPlaneToken: options.token }),
      ...(options.etcdEndpoints === undefined ? {} : { etcdEndpoints: options.etcdEndpoints }),
      listen: options.listen,
      ...(options.advertise === undefined ? {} : { advertise: options.advertise }),
      ...(options.id === undefined ? {} : { providerId: options.id }),
      ...(options.nats === undefined ? {} : { nats: options.nats }),
      ...(options.heartbeatInterval === undefined ? {} : { heartbeatIntervalMs: options.heartbeatInterval }),
      http: { allowPrivateAddresses: options.allowPrivateHttp === true },
      logger,
    });
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

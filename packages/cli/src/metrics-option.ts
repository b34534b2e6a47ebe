import type { Metrics } from "@wasmatrix/core";
import type { Logger } from "@wasmatrix/core/logger";
import { Option } from "commander";

/** What `--metrics` and `--metrics-instance-labels` leave in a command's options. */
export interface MetricsFlags {
  metrics?: string;
  metricsInstanceLabels?: boolean;
  insecure?: boolean;
}

/** `up` serves metrics unless told `--metrics off`; the other daemons only when asked. */
export const UP_METRICS_ADDRESS = "127.0.0.1:9464";

/** `--metrics <address|off>` of the daemons. */
export const metricsOption = (defaultAddress?: string): Option =>
  new Option(
    "--metrics <address|off>",
    `serve Prometheus metrics at http://<address>/metrics${defaultAddress === undefined ? "" : `; off turns them off (default ${defaultAddress})`}`,
  ).env("WASMATRIX_METRICS");

/** `--metrics-instance-labels` of the daemons. */
export const metricsInstanceLabelsOption = (): Option =>
  new Option(
    "--metrics-instance-labels",
    "label invocation, fuel and lifecycle metrics with the instance id too (one series per instance: mind the cardinality)",
  ).env("WASMATRIX_METRICS_INSTANCE_LABELS");

export interface DaemonMetrics {
  readonly metrics: Metrics | undefined;
  /** The bound address, or null when metrics are off. */
  readonly address: string | null;
  close(): Promise<void>;
}

/**
 * Starts the metrics listener the flags ask for. An address given by the operator that cannot be
 * bound is an error; the default one of `up` being taken (a second `up` on this machine) only
 * costs a warning, so that it never keeps a cluster from starting.
 */
export async function startDaemonMetrics(
  flags: MetricsFlags,
  logger: Logger,
  defaultAddress?: string,
): Promise<DaemonMetrics> {
  const address = flags.metrics ?? defaultAddress;
  const off: DaemonMetrics = { metrics: undefined, address: null, close: async () => undefined };
  if (address === undefined || address === "off") return off;
  const { startMetricsServer } = await import("@wasmatrix/daemons");
  try {
    const server = await startMetricsServer(address, {
      instanceLabels: flags.metricsInstanceLabels === true,
      insecure: flags.insecure === true,
    });
    logger.info({ address: server.address }, "serving metrics");
    return { metrics: server.metrics, address: server.address, close: () => server.close() };
  } catch (error) {
    if (flags.metrics !== undefined) throw error;
    logger.warn(
      { address, error: (error as Error).message },
      "metrics are off: the default metrics address is taken; give --metrics <address>",
    );
    return off;
  }
}

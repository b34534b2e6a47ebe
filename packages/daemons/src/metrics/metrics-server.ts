import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { assertListenAllowed, ErrorCode, splitHostPort, WasmatrixError } from "@wasmatrix/core";
import { PromMetrics, type PromMetricsOptions } from "./prom-metrics.js";

/** Where `wasmatrix up` serves /metrics unless told otherwise (`--metrics off` turns it off). */
export const DEFAULT_METRICS_ADDRESS = "127.0.0.1:9464";

export interface MetricsServerOptions extends PromMetricsOptions {
  /** The operator accepted a plain-HTTP listener beyond loopback (`--insecure`). */
  insecure?: boolean;
}

export interface MetricsServer {
  readonly metrics: PromMetrics;
  /** host:port actually bound (port 0 picks a free one). */
  readonly address: string;
  close(): Promise<void>;
}

/**
 * Serves `GET /metrics` in Prometheus' text format on `address`, from a fresh `PromMetrics`
 * that the caller hands to the daemon it runs. Plain HTTP: beyond loopback only with `insecure`.
 */
export async function startMetricsServer(
  address: string,
  options: MetricsServerOptions = {},
): Promise<MetricsServer> {
  assertListenAllowed("metrics", address, { tls: false, insecure: options.insecure === true });
  const { host, port } = splitHostPort(address);
  if (port === undefined || !/^\d{1,5}$/.test(port)) {
    throw new WasmatrixError(
      ErrorCode.INVALID_REQUEST,
      `--metrics wants host:port (as ${DEFAULT_METRICS_ADDRESS}) or off, not '${address}'`,
      { address },
    );
  }
  const metrics = new PromMetrics(options);
  const server = createServer((request, response) => {
    const path = (request.url ?? "/").split("?")[0];
    if (request.method !== "GET" || path !== "/metrics") {
      response.writeHead(404, { "content-type": "text/plain" }).end("only GET /metrics is served here\n");
      return;
    }
    metrics.scrape().then(
      (text) => response.writeHead(200, { "content-type": metrics.contentType }).end(text),
      (error: unknown) =>
        response.writeHead(500, { "content-type": "text/plain" }).end(`${(error as Error).message}\n`),
    );
  });
  await listen(server, host, Number(port), address);
  const bound = server.address() as AddressInfo;
  return {
    metrics,
    address: `${host.includes(":") ? `[${host}]` : host}:${bound.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function listen(server: Server, host: string, port: number, address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) =>
      reject(
        new WasmatrixError(
          ErrorCode.INVALID_REQUEST,
          `cannot serve metrics on ${address}: ${error.code === "EADDRINUSE" ? "the address is in use; pick another with --metrics, or --metrics off" : error.message}`,
          { address, ...(error.code === undefined ? {} : { errno: error.code }) },
        ),
      ),
    );
    server.listen(port, host, () => resolve());
  });
}

import { readFile } from "node:fs/promises";
import { DEFAULT_API_ADDRESS } from "@wasmatrix/core";
import { type Command, Option } from "commander";
import { logLevelOption, runUntilSignalled } from "../daemon.js";
import { failureFrom, formatFailure, UsageError } from "../failure.js";
import { parseSize, usage } from "../options.js";
import { print, printError } from "../output.js";

export const DEFAULT_HTTP_ADDRESS = "127.0.0.1:8080";

interface GatewayCommandOptions {
  controlPlane: string;
  listen: string;
  tlsCert?: string;
  tlsKey?: string;
  insecure?: boolean;
  maxBody?: number;
  token?: string;
  logLevel: string;
}

/** The options `up` and `gateway` share; `up` names them --http-*. */
export async function gatewayTls(cert: string | undefined, key: string | undefined) {
  if ((cert === undefined) !== (key === undefined)) {
    throw new UsageError(
      "TLS for HTTP needs both a certificate and a key",
      "give --tls-cert <pem> --tls-key <pem>",
    );
  }
  if (cert === undefined || key === undefined) return undefined;
  return { cert: await readFile(cert), key: await readFile(key) };
}

export function registerGateway(program: Command): void {
  program
    .command("gateway")
    .description(
      "Run a stateless HTTP gateway: learns routes and instances from a control plane and invokes guests' HTTP handlers",
    )
    .addOption(
      new Option("--control-plane <address>", "the control plane's API")
        .env("WASMATRIX_SERVER")
        .default(DEFAULT_API_ADDRESS),
    )
    .addOption(new Option("--listen <address>", "address to serve HTTP on").default(DEFAULT_HTTP_ADDRESS))
    .option("--tls-cert <file>", "PEM certificate: serve HTTPS")
    .option("--tls-key <file>", "PEM private key of --tls-cert")
    .option("--insecure", "serve plain HTTP beyond loopback (refused otherwise)")
    .option("--max-body <size>", "largest request body; larger ones get 413 (default 1MiB)", usage(parseSize))
    .addOption(
      new Option("--token <token>", "API token for a control plane started with --auth (a deployer's)").env(
        "WASMATRIX_TOKEN",
      ),
    )
    .addOption(logLevelOption())
    .addHelpText(
      "after",
      `
A gateway holds no state: run any number behind a load balancer. It reads routes and instances
from the control plane, follows its facts to notice changes, and invokes through it. Every
response carries x-request-id and x-wasmatrix-instance; one access-log line per request goes to
stderr.

To a control plane with --auth it sends --token (WASMATRIX_TOKEN): a deployer token without a
tenant (it lists routes and instances and invokes). To one with mutual TLS it presents the
certificate in WASMATRIX_TLS_CA, WASMATRIX_TLS_CERT and WASMATRIX_TLS_KEY (a client:<name> one):
--tls-cert/--tls-key are the gateway's own HTTPS certificate.

Examples:
  wasmatrix gateway --control-plane 127.0.0.1:7400 --listen 127.0.0.1:8080
  wasmatrix gateway --listen 0.0.0.0:8443 --tls-cert cert.pem --tls-key key.pem --max-body 4MiB`,
    )
    .action(async (options: GatewayCommandOptions) => {
      process.exit(await gateway(options));
    });
}

async function gateway(options: GatewayCommandOptions): Promise<number> {
  const [{ startGateway }, { createLogger }, { routeGrpcLog }, { connect }] = await Promise.all([
    import("@wasmatrix/gateway"),
    import("@wasmatrix/core/logger"),
    import("@wasmatrix/proto"),
    import("@wasmatrix/client"),
  ]);
  const logger = createLogger("wasmatrix-gateway", { level: options.logLevel });
  routeGrpcLog((message) => logger.debug({ from: "grpc-js" }, message));
  // The client reads WASMATRIX_TLS_* for mutual TLS to the control plane, as every client does.
  const api = connect(options.controlPlane, options.token === undefined ? {} : { token: options.token });
  try {
    const tls = await gatewayTls(options.tlsCert, options.tlsKey);
    const running = await startGateway({
      api,
      listen: options.listen,
      logger,
      insecure: options.insecure === true,
      ...(tls === undefined ? {} : { tls }),
      ...(options.maxBody === undefined ? {} : { maxBodyBytes: options.maxBody }),
    });
    print(
      `wasmatrix gateway is up: HTTP on ${tls === undefined ? "http" : "https"}://${running.address}, routes from ${options.controlPlane}\n`,
    );
    return runUntilSignalled(
      async () => {
        await running.close();
        api.close();
      },
      logger,
      2_000,
    );
  } catch (error) {
    api.close();
    const failure = failureFrom(error);
    printError(formatFailure(failure));
    return failure.exitCode;
  }
}

import {
  AuditLog,
  ControlPlane,
  controlPlaneService,
  EtcdNodes,
  RegisteredNodes,
  StaticNodes,
} from "@wasmatrix/control-plane";
import { DEFAULT_API_ADDRESS, ErrorCode, type TrustedKeys, WasmatrixError } from "@wasmatrix/core";
import { type Logger, silentLogger } from "@wasmatrix/core/logger";
import { EtcdMetadata } from "@wasmatrix/etcd";
import * as pb from "@wasmatrix/proto";

export interface ControlPlaneDaemonOptions {
  listen?: string;
  heartbeatIntervalMs?: number;
  /** Node agents known by address instead of by registration; polled every heartbeat interval. */
  staticNodes?: string[];
  /**
   * etcd client URLs: node agents registered there (under leases) are found by watching, polled
   * every heartbeat interval, and lost when their lease expires. etcd holds nothing else.
   */
  etcdEndpoints?: string[];
  /** Accept only modules signed by one of these keys (MODULE_SIGNATURE_INVALID otherwise). */
  trustedKeys?: TrustedKeys;
  /** The audit log's file (`<state dir>/audit.jsonl`); default: no audit log. */
  auditFile?: string;
  logger?: Logger;
}

export interface ControlPlaneDaemon {
  readonly controlPlane: ControlPlane;
  readonly address: string;
  close(): Promise<void>;
}

/** The control plane as a process of its own: node agents register and report to it over gRPC. */
export async function startControlPlaneDaemon(
  options: ControlPlaneDaemonOptions = {},
): Promise<ControlPlaneDaemon> {
  const logger = options.logger ?? silentLogger;
  const controlPlane = new ControlPlane({
    mode: "control-plane",
    logger,
    ...(options.heartbeatIntervalMs === undefined
      ? {}
      : { heartbeatIntervalMs: options.heartbeatIntervalMs }),
    ...(options.trustedKeys === undefined ? {} : { trustedKeys: options.trustedKeys }),
    ...(options.auditFile === undefined ? {} : { auditLog: new AuditLog(options.auditFile, { logger }) }),
  });
  const registered = new RegisteredNodes(controlPlane, logger);
  const service = controlPlaneService(controlPlane, {
    ...registered.hooks,
    async registerProvider(request) {
      pb.checkProtocolVersion(request.protocolVersion);
      if (request.provider === undefined) {
        throw new WasmatrixError(ErrorCode.INVALID_REQUEST, "a provider registration needs the provider");
      }
      controlPlane.registerProvider(request.provider);
      return {};
    },
    listProviders: () => controlPlane.listProviders(),
  });
  const server = await pb.startGrpcServer(
    options.listen ?? DEFAULT_API_ADDRESS,
    [{ definition: pb.ControlPlaneService, implementation: service }],
    { logger },
  );
  controlPlane.startLivenessChecks();
  const staticNodes = new StaticNodes(controlPlane, options.staticNodes ?? [], {
    intervalMs: controlPlane.heartbeatIntervalMs,
    logger,
  });
  staticNodes.start();
  let etcd: EtcdNodes | null = null;
  if (options.etcdEndpoints !== undefined && options.etcdEndpoints.length > 0) {
    const metadata = await EtcdMetadata.connect({ endpoints: options.etcdEndpoints });
    etcd = new EtcdNodes(controlPlane, metadata, { intervalMs: controlPlane.heartbeatIntervalMs, logger });
    try {
      await etcd.start();
    } catch (error) {
      await etcd.close();
      staticNodes.close();
      controlPlane.close();
      await server.close();
      throw new WasmatrixError(
        ErrorCode.NODE_UNAVAILABLE,
        `cannot read nodes from etcd at ${options.etcdEndpoints.join(",")}: ${(error as Error).message}; is etcd running there?`,
        { endpoints: options.etcdEndpoints },
        { cause: error },
      );
    }
  }
  logger.info({ address: server.address, etcd: options.etcdEndpoints }, "control plane listening");
  return {
    controlPlane,
    address: server.address,
    async close() {
      staticNodes.close();
      await etcd?.close();
      controlPlane.close();
      await server.close();
    },
  };
}

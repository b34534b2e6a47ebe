import {
  ControlPlane,
  controlPlaneService,
  EtcdNodes,
  RegisteredNodes,
  StaticNodes,
  TokenAuthority,
  tokenAccess,
} from "@wasmatrix/control-plane";
import { DEFAULT_API_ADDRESS, ErrorCode, WasmatrixError } from "@wasmatrix/core";
import { type Logger, silentLogger } from "@wasmatrix/core/logger";
import { EtcdMetadata } from "@wasmatrix/etcd";
import * as pb from "@wasmatrix/proto";
import { EtcdRevocations } from "./etcd-revocations.js";

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
  logger?: Logger;
  /**
   * Require an API token on every call (`--auth`): the signing key, token registry and
   * revocations live in `stateDir`; control planes sharing the key verify each other's tokens.
   */
  auth?: { stateDir: string };
}

export interface ControlPlaneDaemon {
  readonly controlPlane: ControlPlane;
  readonly address: string;
  /** With `auth`: the token authority (its `adminTokenPath` is set on the first start). */
  readonly tokens: TokenAuthority | undefined;
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
  });
  const registered = new RegisteredNodes(controlPlane, logger);
  const tokens =
    options.auth === undefined ? undefined : await openTokens(options.auth, options.etcdEndpoints);
  const service = controlPlaneService(controlPlane, {
    tenantOfInstance: (id) => controlPlane.tenantOfInstance(id),
    ...(tokens === undefined ? {} : { tokens }),
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
    { logger, access: tokenAccess(tokens) },
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
      tokens?.close();
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
    tokens,
    async close() {
      staticNodes.close();
      await etcd?.close();
      controlPlane.close();
      await server.close();
      tokens?.close();
    },
  };
}

/** The token authority; with etcd, its revocations live there (shared by every control plane on it). */
async function openTokens(
  auth: { stateDir: string },
  etcdEndpoints: string[] | undefined,
): Promise<TokenAuthority> {
  if (etcdEndpoints === undefined || etcdEndpoints.length === 0) return TokenAuthority.open(auth);
  const metadata = await EtcdMetadata.connect({ endpoints: etcdEndpoints });
  try {
    const revocations = await EtcdRevocations.open(metadata, { owns: true });
    return await TokenAuthority.open({ ...auth, revocations });
  } catch (error) {
    await metadata.close();
    throw new WasmatrixError(
      ErrorCode.NODE_UNAVAILABLE,
      `cannot read token revocations from etcd at ${etcdEndpoints.join(",")}: ${(error as Error).message}; is etcd running there?`,
      { endpoints: etcdEndpoints },
      { cause: error },
    );
  }
}

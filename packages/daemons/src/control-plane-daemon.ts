import { randomBytes } from "node:crypto";
import {
  AuditLog,
  ControlPlane,
  controlPlaneService,
  EtcdNodes,
  EtcdRouteStore,
  EtcdTriggerStore,
  etcdTickClaims,
  FileRouteStore,
  RegisteredNodes,
  type RouteStore,
  StaticNodes,
  TokenAuthority,
  type TriggersOptions,
  tokenAccess,
} from "@wasmatrix/control-plane";
import {
  DEFAULT_API_ADDRESS,
  ErrorCode,
  type Metrics,
  type TrustedKeys,
  WasmatrixError,
} from "@wasmatrix/core";
import { type Logger, silentLogger } from "@wasmatrix/core/logger";
import { EtcdMetadata } from "@wasmatrix/etcd";
import { TriggerSubscriptions } from "@wasmatrix/node-agent";
import * as pb from "@wasmatrix/proto";
import { MessagingProvider } from "@wasmatrix/providers";
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
  /** Mutual TLS: clients, nodes and providers must present certificates of this CA; nodes are dialled with this one. */
  tls?: pb.TlsMaterial | undefined;
  /** Serve plain gRPC beyond loopback (the operator's --insecure). */
  insecure?: boolean;
  /**
   * NATS server(s), comma-separated: queue triggers subscribe there. Without it the control
   * plane refuses queue triggers (cron triggers need nothing).
   */
  nats?: string;
  /**
   * A file that keeps the HTTP routes across restarts (docs/gateway.md). Without it routes live
   * as long as the process: nodes report instances back after a restart, but no node holds routes.
   * Ignored with etcd endpoints: routes then live in etcd, shared by every control plane.
   */
  routesFile?: string;
  /** Accept only modules signed by one of these keys (MODULE_SIGNATURE_INVALID otherwise). */
  trustedKeys?: TrustedKeys;
  /** The audit log's file (`<state dir>/audit.jsonl`); default: no audit log. */
  auditFile?: string;
  logger?: Logger;
  /**
   * Require an API token on every call (`--auth`): the signing key, token registry and
   * revocations live in `stateDir`; control planes sharing the key verify each other's tokens.
   */
  auth?: { stateDir: string };
  /** Where heartbeats, node losses, node and provider gauges and gRPC latencies go. */
  metrics?: Metrics;
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
  // etcd3 connects lazily: nothing is dialled before the first call.
  const metadata =
    options.etcdEndpoints !== undefined && options.etcdEndpoints.length > 0
      ? await EtcdMetadata.connect({ endpoints: options.etcdEndpoints })
      : null;
  const messaging =
    options.nats === undefined || options.nats === ""
      ? null
      : new MessagingProvider({
          nats: { servers: options.nats.split(","), name: "wasmatrix-control-plane" },
          logger,
        });
  // With etcd, triggers live there and each tick is claimed there, so control planes share both.
  const triggers: TriggersOptions = {
    ...(metadata === null
      ? {}
      : {
          store: new EtcdTriggerStore(metadata, logger),
          claims: etcdTickClaims(metadata, `control-plane-${randomBytes(6).toString("hex")}`),
        }),
    ...(messaging === null
      ? {}
      : { queue: (invoke) => new TriggerSubscriptions(messaging, invoke, { logger }) }),
  };
  const controlPlane = new ControlPlane({
    mode: "control-plane",
    logger,
    ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
    triggers,
    ...(options.heartbeatIntervalMs === undefined
      ? {}
      : { heartbeatIntervalMs: options.heartbeatIntervalMs }),
    ...(options.trustedKeys === undefined ? {} : { trustedKeys: options.trustedKeys }),
    ...(options.auditFile === undefined ? {} : { auditLog: new AuditLog(options.auditFile, { logger }) }),
    ...routeStore(metadata, options.routesFile, logger),
  });
  // Before serving: a gateway must never see an empty table only because it asked too early.
  await controlPlane.loadRoutes();
  const registered = new RegisteredNodes(controlPlane, logger, {
    tls: options.tls,
    metrics: options.metrics,
  });
  const tokens =
    options.auth === undefined ? undefined : await openTokens(options.auth, options.etcdEndpoints);
  const service = controlPlaneService(controlPlane, {
    tenantOfInstance: (id) => controlPlane.tenantOfInstance(id),
    audit: controlPlane.audit,
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
    {
      logger,
      tls: options.tls,
      insecure: options.insecure,
      what: "the control-plane API",
      access: tokenAccess(tokens, controlPlane.audit),
      ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
    },
  );
  controlPlane.startLivenessChecks();
  const staticNodes = new StaticNodes(controlPlane, options.staticNodes ?? [], {
    intervalMs: controlPlane.heartbeatIntervalMs,
    logger,
    tls: options.tls,
    metrics: options.metrics,
  });
  staticNodes.start();
  let etcd: EtcdNodes | null = null;
  if (metadata !== null && options.etcdEndpoints !== undefined) {
    etcd = new EtcdNodes(controlPlane, metadata, {
      intervalMs: controlPlane.heartbeatIntervalMs,
      logger,
      tls: options.tls,
      metrics: options.metrics,
    });
    try {
      await etcd.start();
    } catch (error) {
      await etcd.close();
      staticNodes.close();
      await controlPlane.close();
      await messaging?.close();
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
  logger.info(
    { address: server.address, etcd: options.etcdEndpoints, tls: options.tls !== undefined },
    "control plane listening",
  );
  return {
    controlPlane,
    address: server.address,
    tokens,
    async close() {
      staticNodes.close();
      await etcd?.close();
      await controlPlane.close();
      await messaging?.close();
      await metadata?.close();
      await server.close();
      tokens?.close();
    },
  };
}

/**
 * With etcd, routes live there, shared by every control plane on it; `--routes-file` is then
 * ignored (said in the log). Without etcd, the file if given, else memory.
 */
function routeStore(
  metadata: EtcdMetadata | null,
  routesFile: string | undefined,
  logger: Logger,
): { routeStore?: RouteStore } {
  if (metadata !== null) {
    if (routesFile !== undefined) {
      logger.warn({ routesFile }, "routes live in etcd: --routes-file is ignored");
    }
    return { routeStore: new EtcdRouteStore(metadata, logger) };
  }
  return routesFile === undefined ? {} : { routeStore: new FileRouteStore(routesFile) };
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

import {
  authorizeRequest,
  type Caller,
  DEFAULT_PROVIDER_ADDRESS,
  ErrorCode,
  type Metrics,
  type ProvidedCapabilityKind,
  ProviderId,
  parsePermission,
  tenantOf,
  WasmatrixError,
} from "@wasmatrix/core";
import { type Logger, silentLogger } from "@wasmatrix/core/logger";
import { EtcdMetadata, leaseTtlSeconds, parseEndpoints } from "@wasmatrix/etcd";
import * as pb from "@wasmatrix/proto";
import { connectControlPlane } from "@wasmatrix/proto";
import {
  type CapabilityProvider,
  type HttpProviderOptions,
  localProviders,
  requiredPermission,
} from "@wasmatrix/providers";

export interface ProviderDaemonOptions {
  capability: ProvidedCapabilityKind;
  providerId?: string;
  listen?: string;
  /** Where node agents reach it; default: the address it listens on. */
  advertise?: string;
  /** The control plane it registers with; node agents learn of it there. */
  controlPlane?: string;
  /**
   * An API token for a control plane started with --auth (an admin's, until TLS gives daemons a
   * certificate identity of their own).
   */
  controlPlaneToken?: string;
  /** etcd: the provider's record lives under a lease there, and it learns the nodes it serves there. */
  etcdEndpoints?: string[];
  /** NATS: keyvalue on JetStream, and what messaging needs. */
  nats?: string;
  http?: HttpProviderOptions;
  /** How often it announces itself and refreshes the nodes it serves. Default 1 s. */
  heartbeatIntervalMs?: number;
  /**
   * Mutual TLS: only node certificates may call, and the node a call is for is the one its
   * certificate names. The control plane is dialled with this provider's (`provider:<id>`).
   */
  tls?: pb.TlsMaterial | undefined;
  /** Serve plain gRPC beyond loopback (the operator's --insecure). */
  insecure?: boolean;
  logger?: Logger;
  /** Where the gRPC server's latencies go. */
  metrics?: Metrics;
}

export interface ProviderDaemon {
  readonly providerId: string;
  readonly address: string;
  close(): Promise<void>;
}

/**
 * A capability provider as a process of its own. It serves only node agents the control plane
 * lists as alive, and checks every call's permission again: a node's word is not enough.
 */
export async function startProviderDaemon(options: ProviderDaemonOptions): Promise<ProviderDaemon> {
  const logger = options.logger ?? silentLogger;
  const providerId = ProviderId.parse(
    pb.idFromCertificate(options.tls, "provider", options.providerId) ??
      ProviderId.generate(options.capability),
  );
  const local = localProviders({
    ...(options.nats === undefined ? {} : { nats: options.nats }),
    ...(options.http === undefined ? {} : { http: options.http }),
    name: `wasmatrix-${providerId}`,
  });
  const provider = local.providers.find((p) => p.capability === options.capability);
  if (provider === undefined) {
    await local.close();
    throw new WasmatrixError(
      ErrorCode.INVALID_REQUEST,
      `a ${options.capability} provider needs NATS: start it with --nats <url>`,
      { capability: options.capability },
    );
  }
  if (options.controlPlane === undefined && (options.etcdEndpoints ?? []).length === 0) {
    await local.close();
    throw new WasmatrixError(
      ErrorCode.INVALID_REQUEST,
      "a provider registers with a control plane (--control-plane) or in etcd (--etcd-endpoints)",
    );
  }
  const controlPlane =
    options.controlPlane === undefined
      ? null
      : connectControlPlane(options.controlPlane, {
          timeoutMs: 5_000,
          ...tokenOption(options.controlPlaneToken),
          tls: options.tls,
          ...(options.tls === undefined ? {} : { peer: { kind: "control-plane" } }),
        });
  // The nodes it serves: those the control plane lists as alive, and those with a record in etcd.
  const listedNodes = new Set<string>();
  const etcdNodes = new Set<string>();
  const nodes = { has: (nodeId: string) => listedNodes.has(nodeId) || etcdNodes.has(nodeId) };
  const refreshNodes = async () => {
    if (controlPlane === null) return;
    const { nodes: listed } = await controlPlane.listNodes();
    listedNodes.clear();
    for (const node of listed) if (node.status === "alive") listedNodes.add(node.nodeId);
  };
  const info: pb.Provider = {
    providerId,
    capability: options.capability,
    address: options.advertise ?? "",
    version: pb.PROTOCOL_VERSION,
    status: "alive",
    lastHeartbeatMs: 0,
  };
  const service: pb.CapabilityProviderServer = {
    call: pb.unary((request: pb.ProviderCallRequest, { caller }) =>
      serve(
        provider,
        request,
        callingNode(request, caller, options.tls !== undefined),
        nodes,
        refreshNodes,
        options.capability,
      ),
    ),
    providerInfo: pb.unary(async () => info),
  };
  const server = await pb.startGrpcServer(
    options.listen ?? DEFAULT_PROVIDER_ADDRESS,
    [{ definition: pb.CapabilityProviderService, implementation: service }],
    {
      logger,
      tls: options.tls,
      insecure: options.insecure,
      what: "the provider API",
      ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
    },
  );
  info.address ||= server.address;
  const intervalMs = options.heartbeatIntervalMs ?? 1_000;
  let unreachable = false;
  const beat = async () => {
    if (controlPlane === null) return;
    try {
      await controlPlane.registerProvider({ provider: info, protocolVersion: pb.PROTOCOL_VERSION });
      await refreshNodes();
      if (unreachable) logger.info("control plane reachable again");
      unreachable = false;
    } catch (error) {
      if (!unreachable)
        logger.warn({ error: (error as Error).message }, "control plane unreachable; will keep trying");
      unreachable = true;
    }
  };
  await beat();
  const timer = setInterval(() => void beat(), intervalMs);
  const etcd = await registerInEtcd(options.etcdEndpoints ?? [], info, intervalMs, etcdNodes);
  logger.info({ providerId, capability: options.capability, address: info.address }, "provider listening");
  return {
    providerId,
    address: info.address,
    async close() {
      clearInterval(timer);
      await etcd?.close();
      await server.close();
      await provider.close?.();
      await local.close();
      controlPlane?.close();
    },
  };
}

/**
 * The node a call is made for. Over TLS it is the one the verified certificate names (the
 * admission already refused anything but a node's), whatever the request says; on a plain
 * loopback provider there is nothing better than the request's word.
 */
function callingNode(request: pb.ProviderCallRequest, caller: Caller, tls: boolean): string {
  if (!tls) return request.nodeId;
  const certificate = caller.certificate;
  if (certificate?.kind !== "node") {
    throw new WasmatrixError(ErrorCode.PERMISSION_DENIED, "a provider serves only node agents' certificates");
  }
  return certificate.id;
}

async function serve(
  provider: CapabilityProvider,
  request: pb.ProviderCallRequest,
  nodeId: string,
  nodes: { has(nodeId: string): boolean },
  refreshNodes: () => Promise<void>,
  capability: ProvidedCapabilityKind,
): Promise<pb.ProviderCallResponse> {
  if (!nodes.has(nodeId)) {
    // A node that registered since the last refresh is looked up once more before refusing.
    await refreshNodes().catch(() => undefined);
    if (!nodes.has(nodeId)) {
      throw new WasmatrixError(
        ErrorCode.PERMISSION_DENIED,
        `this provider serves only node agents listed as alive (by the control plane or in etcd); '${nodeId}' is not one`,
        { nodeId },
      );
    }
  }
  authorizeRequest(
    { capability, permissions: request.permissions.map((p) => parsePermission(p)), binding: request.binding },
    requiredPermission(capability, request.operation, request.payload),
    { instanceId: request.instanceId },
  );
  const payload = await provider.handle({
    instanceId: request.instanceId,
    binding: request.binding,
    operation: request.operation,
    payload: request.payload,
    scope: request.scope,
    tenant: tenantOf(request.tenant),
    remainingMs: Math.max(1, request.remainingMs),
  });
  return { payload: pb.toBuffer(payload) };
}

/** The provider's record under an etcd lease, and a watch on the nodes it may serve. */
async function registerInEtcd(
  endpoints: string[],
  info: pb.Provider,
  intervalMs: number,
  nodes: Set<string>,
): Promise<{ close(): Promise<void> } | null> {
  if (endpoints.length === 0) return null;
  const metadata = await EtcdMetadata.connect({ endpoints: parseEndpoints(endpoints) });
  const registration = await metadata.putProvider(
    {
      providerId: info.providerId,
      capability: info.capability,
      address: info.address,
      version: info.version,
    },
    { ttlSeconds: leaseTtlSeconds(intervalMs) },
  );
  const watch = await metadata.watchNodes({
    onPut: (node) => nodes.add(node.nodeId),
    onDelete: (nodeId) => nodes.delete(nodeId),
  });
  return {
    async close() {
      await watch.close();
      // Revoked, not left to expire: nodes stop routing here at once.
      await registration.revoke();
      await metadata.close();
    },
  };
}

function tokenOption(token: string | undefined): { token?: string } {
  return token === undefined || token === "" ? {} : { token };
}

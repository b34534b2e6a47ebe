import {
  AuditLog,
  ControlPlane,
  controlPlaneService,
  LocalNodeSource,
  TokenAuthority,
  tokenAccess,
} from "@wasmatrix/control-plane";
import { DEFAULT_API_ADDRESS, type Metrics, type TrustedKeys } from "@wasmatrix/core";
import { type Logger, silentLogger } from "@wasmatrix/core/logger";
import {
  LocalNodeApi,
  type MessageBus,
  NodeAgent,
  type NodeAgentOptions,
  TriggerSubscriptions,
  viewToProto,
} from "@wasmatrix/node-agent";
import * as pb from "@wasmatrix/proto";
import { type RunningServer, startGrpcServer } from "@wasmatrix/proto";
import { type CapabilityProvider, type HttpProviderOptions, localProviders } from "@wasmatrix/providers";

export interface EmbeddedOptions {
  nodeId?: string;
  labels?: Record<string, string>;
  logger?: Logger;
  /** Options of the node agent (runtime workers, limits, fact window…). */
  node?: Omit<NodeAgentOptions, "nodeId" | "logger" | "providers">;
  http?: HttpProviderOptions;
  /** NATS server(s): keyvalue on JetStream and messaging instead of in-memory keyvalue only. */
  nats?: string;
  /** Providers to serve instead of the default ones. */
  providers?: CapabilityProvider[];
  /**
   * Require an API token on every gRPC call (`up --auth`): the signing key, token registry and
   * revocations live in `stateDir`. The in-process `client` is not affected.
   */
  auth?: { stateDir: string };
  /** Where the node, the control plane and the gRPC server report metrics. Default: nowhere. */
  metrics?: Metrics;
  /** Accept only modules signed by one of these keys (checked by the control plane, before compiling). */
  trustedKeys?: TrustedKeys;
  /** The audit log's file (`<state dir>/audit.jsonl`); default: no audit log. */
  auditFile?: string;
}

export interface Embedded {
  /** The control-plane API, in process: the same methods a gRPC client has. */
  readonly client: pb.ControlPlaneApi;
  readonly controlPlane: ControlPlane;
  readonly agent: NodeAgent;
  /** With `auth`: the token authority, and where this start wrote the first admin token (first start only). */
  readonly tokens: TokenAuthority | undefined;
  /** Serves the API over gRPC (what `wasmatrix up` does). */
  /**
   * Serves the API over gRPC. With `tls`, clients need a certificate of its CA; without, a
   * non-loopback address needs `insecure`.
   */
  serve(
    address?: string,
    security?: { tls?: pb.TlsMaterial | undefined; insecure?: boolean },
  ): Promise<RunningServer>;
  /** Stops every instance, the gRPC server if any, and the runtime. */
  close(): Promise<void>;
}

/**
 * Control plane, one node agent and local providers in one process: no etcd, no NATS. The node
 * reports every change to the control plane as it happens, instead of over the network.
 */
export async function createEmbedded(options: EmbeddedOptions = {}): Promise<Embedded> {
  const logger = options.logger ?? silentLogger;
  const local =
    options.providers === undefined
      ? localProviders({
          inProcessBus: true,
          ...(options.nats === undefined ? {} : { nats: options.nats }),
          ...(options.http === undefined ? {} : { http: options.http }),
        })
      : { providers: options.providers, close: async () => undefined };
  const providers = local.providers;
  const agent = new NodeAgent({
    ...options.node,
    ...(options.nodeId === undefined ? {} : { nodeId: options.nodeId }),
    logger,
    providers,
    ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
    // No trusted keys of its own: every start reaches this node through the control plane
    // beside it, which has checked the signature already.
  });
  // Queue triggers ride the node's messaging provider: the in-process bus, or NATS with --nats.
  const messaging = providers.find((p) => p.capability === "messaging");
  const bus =
    messaging !== undefined && "subscribeDurable" in messaging ? (messaging as unknown as MessageBus) : null;
  const controlPlane = new ControlPlane({
    mode: "embedded",
    logger,
    ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
    triggers: bus === null ? {} : { queue: (invoke) => new TriggerSubscriptions(bus, invoke, { logger }) },
    ...(options.trustedKeys === undefined ? {} : { trustedKeys: options.trustedKeys }),
    ...(options.auditFile === undefined ? {} : { auditLog: new AuditLog(options.auditFile, { logger }) }),
  });
  // Marked local by its source: the node shares this process, so it is never lost to silence.
  const node = new LocalNodeSource(controlPlane, {
    node: pb.Node.fromPartial({
      nodeId: agent.nodeId,
      address: "embedded",
      labels: options.labels ?? {},
      capabilities: [
        "logging",
        ...(agent.servesFilesystem ? ["filesystem"] : []),
        ...providers.map((p) => p.capability),
      ],
      maxInstances: agent.capacity,
      version: pb.PROTOCOL_VERSION,
    }),
    api: new LocalNodeApi(agent),
    onFact: (listener) => agent.facts.onAppend(listener),
    onInstance: (listener) => agent.onChange((view) => listener(viewToProto(view))),
  });
  node.start();
  const tokens = options.auth === undefined ? undefined : await TokenAuthority.open(options.auth);
  let server: RunningServer | null = null;
  return {
    client: controlPlane,
    controlPlane,
    agent,
    tokens,
    async serve(address = DEFAULT_API_ADDRESS, security = {}) {
      const service = controlPlaneService(controlPlane, {
        tenantOfInstance: (id) => controlPlane.tenantOfInstance(id),
        audit: controlPlane.audit,
        ...(tokens === undefined ? {} : { tokens }),
      });
      server = await startGrpcServer(
        address,
        [{ definition: pb.ControlPlaneService, implementation: service }],
        {
          logger,
          access: tokenAccess(tokens, controlPlane.audit),
          tls: security.tls,
          insecure: security.insecure,
          what: "the API",
          ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
        },
      );
      return server;
    },
    async close() {
      await server?.close();
      tokens?.close();
      await controlPlane.close();
      await agent.close();
      await local.close();
      node.close();
    },
  };
}

import { DEFAULT_NODE_AGENT_ADDRESS, ErrorCode, NodeId, WasmatrixError } from "@wasmatrix/core";
import { type Logger, silentLogger } from "@wasmatrix/core/logger";
import { EtcdMetadata, leaseTtlSeconds, type NodeRegistration } from "@wasmatrix/etcd";
import {
  LocalNodeApi,
  NodeAgent,
  type NodeAgentOptions,
  nodeAgentService,
  viewToProto,
} from "@wasmatrix/node-agent";
import * as pb from "@wasmatrix/proto";
import { type ControlPlaneConnection, connectControlPlane } from "@wasmatrix/proto";

/** Until a control plane sets the pace, and for the etcd lease when none does. */
export const DEFAULT_NODE_HEARTBEAT_INTERVAL_MS = 1_000;
/** On shutdown, how long revoking the etcd lease may take before the key is left to expire. */
const REVOKE_TIMEOUT_MS = 2_000;
/** Facts sent in one report at most; the rest follow in the next. */
const MAX_FACTS_PER_REPORT = 1_000;
/** Changes within this long of each other go in one report. */
const REPORT_COALESCE_MS = 5;
/**
 * Reports start at least this far apart. A lone change is still told within the coalescing
 * window, but a busy node sends one report per gap rather than one per change: every report is
 * a call both this node and the control plane pay for, in the middle of the calls they serve.
 */
const REPORT_MIN_GAP_MS = 25;
/**
 * Every this many heartbeats carry the whole table; the others carry changes only. A control
 * plane that lost track (it restarted, or declared this node lost) says so in its answer and gets
 * the whole table at once; the periodic one only bounds how long anything else could stay wrong,
 * without making each heartbeat cost a thousand-instance table on both sides.
 */
const FULL_REPORT_EVERY_HEARTBEATS = 10;

export interface NodeDaemonOptions extends Omit<NodeAgentOptions, "logger"> {
  listen?: string;
  /** Where the control plane can reach this node; default: the address it listens on. */
  advertise?: string;
  /**
   * The control plane to register with. Without one (and without etcd) the node only serves its
   * own API (static lists).
   */
  controlPlane?: string;
  /**
   * An API token for a control plane started with --auth (an admin's, until TLS gives daemons a
   * certificate identity of their own).
   */
  controlPlaneToken?: string;
  /**
   * etcd client URLs: the node registers itself there under a lease, and control planes watching
   * etcd find it and poll it. With etcd and no `controlPlane`, the node reports to nobody.
   */
  etcdEndpoints?: string[];
  /**
   * The node's pace before a control plane sets one, and what its etcd lease's TTL is derived
   * from (3 intervals, at least 2 s). @default DEFAULT_NODE_HEARTBEAT_INTERVAL_MS
   */
  heartbeatIntervalMs?: number;
  labels?: Record<string, string>;
  /**
   * Mutual TLS: only a control plane's certificate may make control calls here; the control
   * plane and provider processes are dialled with this node's (`node:<id>`, the same id).
   */
  tls?: pb.TlsMaterial | undefined;
  /** Serve plain gRPC beyond loopback (the operator's --insecure). */
  insecure?: boolean;
  logger?: Logger;
}

export interface NodeDaemon {
  readonly agent: NodeAgent;
  readonly address: string;
  /** The etcd lease's TTL, when the node registered in etcd. */
  readonly leaseTtlSeconds: number | null;
  /** Stops every instance, reports that, deregisters (revokes its etcd lease) and closes the server. */
  close(deadlineMs?: number): Promise<void>;
}

/**
 * A node agent as a process of its own: serves the NodeAgent API, registers with the control
 * plane, and reports changed instances and new facts on every change and heartbeat (the whole
 * table after each registration and every tenth heartbeat). If the control plane forgets it
 * (it restarted, or declared it lost) or cannot be reached, the node registers again as soon as
 * it answers; running instances are never touched by any of that.
 */
export async function startNodeDaemon(options: NodeDaemonOptions = {}): Promise<NodeDaemon> {
  const logger = options.logger ?? silentLogger;
  const nodeId = pb.idFromCertificate(options.tls, "node", options.nodeId) ?? NodeId.generate();
  const agent = new NodeAgent({
    ...options,
    nodeId,
    factSource: `${nodeId}.${Date.now().toString(36)}`,
    logger,
  });
  // The API names the address the server got, and the server serves the API: the service is
  // registered first, and the info it reports is filled in once the port is known.
  const info = { address: options.advertise ?? "", labels: options.labels ?? {} };
  const api = new LocalNodeApi(agent, info);
  const server = await pb.startGrpcServer(
    options.listen ?? DEFAULT_NODE_AGENT_ADDRESS,
    [{ definition: pb.NodeAgentService, implementation: nodeAgentService(api) }],
    {
      logger,
      tls: options.tls,
      insecure: options.insecure,
      what: "the node agent API",
      ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
    },
  );
  info.address ||= server.address;
  const address = info.address;
  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? DEFAULT_NODE_HEARTBEAT_INTERVAL_MS;
  let etcd: EtcdRegistration | null = null;
  if (options.etcdEndpoints !== undefined && options.etcdEndpoints.length > 0) {
    try {
      etcd = await registerInEtcd(
        agent,
        api,
        options.etcdEndpoints,
        leaseTtlSeconds(heartbeatIntervalMs),
        logger,
      );
    } catch (error) {
      await server.close();
      await agent.close(0);
      throw error;
    }
  }
  const reporter =
    options.controlPlane === undefined
      ? null
      : new Reporter(
          agent,
          api,
          connectControlPlane(options.controlPlane, {
            ...tokenOption(options.controlPlaneToken),
            tls: options.tls,
            ...(options.tls === undefined ? {} : { peer: { kind: "control-plane" } }),
            ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
          }),
          logger,
          heartbeatIntervalMs,
        );
  reporter?.start();
  logger.info(
    { nodeId: agent.nodeId, address, controlPlane: options.controlPlane, etcd: options.etcdEndpoints },
    "node agent listening",
  );
  return {
    agent,
    address,
    leaseTtlSeconds: etcd?.ttlSeconds ?? null,
    async close(deadlineMs) {
      await agent.close(deadlineMs);
      await reporter?.stop();
      // Every instance has stopped: control planes that see the key go find nothing to move.
      await etcd?.close();
      await server.close();
    },
  };
}

interface EtcdRegistration {
  readonly ttlSeconds: number;
  close(): Promise<void>;
}

/**
 * Writes the node's record (id, address, labels, capabilities, protocol version) under a lease.
 * etcd3 keeps the lease alive; if it is lost (etcd away for longer than the TTL), the record is
 * written again under a new lease as soon as etcd answers. Running instances never notice.
 */
async function registerInEtcd(
  agent: NodeAgent,
  api: LocalNodeApi,
  endpoints: string[],
  ttlSeconds: number,
  logger: Logger,
): Promise<EtcdRegistration> {
  const metadata = await EtcdMetadata.connect({ endpoints });
  const { nodeId, address, labels, capabilities, version, maxInstances } = await api.nodeInfo();
  let registration: NodeRegistration;
  try {
    registration = await metadata.registerNode(
      { nodeId, address, labels, capabilities, version, maxInstances },
      { ttlSeconds },
    );
  } catch (error) {
    await metadata.close();
    if (WasmatrixError.is(error)) throw error;
    throw new WasmatrixError(
      ErrorCode.NODE_UNAVAILABLE,
      `cannot register node '${nodeId}' in etcd at ${endpoints.join(",")}: ${(error as Error).message}; is etcd running there?`,
      { nodeId, endpoints },
      { cause: error },
    );
  }
  registration.onLost((error) =>
    logger.warn({ error: error.message, ttlSeconds }, "etcd lease lost; registering again when etcd answers"),
  );
  registration.onRestored(() => logger.info({ ttlSeconds }, "registered in etcd again"));
  logger.info({ key: registration.key, ttlSeconds }, "registered in etcd");
  // Provider processes with a record in etcd are where this node sends calls it cannot serve.
  const providers = new Map<string, pb.Provider>();
  const publish = () => agent.setRemoteProviders([...providers.values()]);
  const providerWatch = await metadata.watchProviders({
    onPut: (record) => {
      const provider = pb.liveProviderFromMetadata(record, Date.now());
      if (provider === null) return;
      providers.set(provider.providerId, provider);
      publish();
    },
    onDelete: (providerId) => {
      providers.delete(providerId);
      publish();
    },
  });
  return {
    ttlSeconds,
    async close() {
      await providerWatch.close();
      // The instances have stopped: say so before the key goes, so that no control plane takes
      // the departure for a loss and starts them elsewhere.
      await withTimeout(registration.markLeaving(), REVOKE_TIMEOUT_MS).catch((error: unknown) =>
        logger.warn({ error: (error as Error).message }, "could not mark the node as leaving in etcd"),
      );
      await registration.revoke(REVOKE_TIMEOUT_MS);
      await metadata.close();
    },
  };
}

class Reporter {
  private timer: NodeJS.Timeout | null = null;
  private soon: NodeJS.Timeout | null = null;
  private registered = false;
  private sentSeq = 0;
  private running: Promise<void> | null = null;
  private again = false;
  private intervalMs: number;
  private unreachableLogged = false;
  private readonly stopChanges: () => void;
  /** Instances changed since the last report, sent alone between heartbeats. */
  private changed = new Set<string>();
  private lastReportAt = Number.NEGATIVE_INFINITY;
  /** The next report carries the whole table (after any registration, and periodically). */
  private full = true;
  private heartbeats = 0;

  constructor(
    private readonly agent: NodeAgent,
    private readonly api: LocalNodeApi,
    private readonly client: ControlPlaneConnection,
    private readonly logger: Logger,
    initialIntervalMs: number,
  ) {
    this.intervalMs = initialIntervalMs;
    // A change is reported at once (coalesced), and alone: encoding a table of thousands of
    // instances on every start would stall this node's event loop for milliseconds each time.
    this.stopChanges = agent.onChange((view) => {
      this.changed.add(view.instanceId);
      this.reportSoon();
    });
  }

  start(): void {
    this.schedule();
    this.reportSoon();
  }

  async stop(): Promise<void> {
    this.stopChanges();
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.soon !== null) clearTimeout(this.soon);
    this.timer = null;
    try {
      await this.running;
      await this.report();
      await this.client.deregisterNode({ nodeId: this.agent.nodeId });
    } catch (error) {
      this.logger.warn({ error: (error as Error).message }, "could not deregister from the control plane");
    }
    this.client.close();
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.heartbeats = (this.heartbeats + 1) % FULL_REPORT_EVERY_HEARTBEATS;
      if (this.heartbeats === 0) this.full = true;
      this.reportSoon();
      this.schedule();
    }, this.intervalMs);
  }

  private reportSoon(): void {
    if (this.soon !== null) return;
    const delay = Math.max(REPORT_COALESCE_MS, this.lastReportAt + REPORT_MIN_GAP_MS - performance.now());
    this.soon = setTimeout(() => {
      this.soon = null;
      if (this.running !== null) {
        this.again = true;
        return;
      }
      this.lastReportAt = performance.now();
      this.running = this.report()
        .catch((error: unknown) => this.unreachable(error))
        .finally(() => {
          this.running = null;
          if (this.again) {
            this.again = false;
            this.reportSoon();
          }
        });
    }, delay);
  }

  private async report(): Promise<void> {
    if (!this.registered) await this.register();
    const facts = this.agent.facts.query({ afterSeq: this.sentSeq, limit: MAX_FACTS_PER_REPORT });
    const partial = !this.full;
    const changed = this.changed;
    this.changed = new Set();
    this.full = false;
    const views = partial ? this.agent.list({ ids: changed }) : this.agent.list();
    let response: pb.ReportStatusResponse;
    try {
      response = await this.client.reportStatus({
        nodeId: this.agent.nodeId,
        instances: views.map(viewToProto),
        facts: facts.map(pb.factToProto),
        partial,
      });
      this.agent.metrics.heartbeat("sent");
    } catch (error) {
      // Not delivered: the next report must carry the whole table again.
      this.full = true;
      throw error;
    }
    this.agent.setRemoteProviders(response.providers);
    if (!response.known) {
      // The control plane restarted and lost its memory: introduce ourselves and tell it all again.
      this.registered = false;
      await this.register();
      return this.report();
    }
    const last = facts.at(-1);
    if (last !== undefined) this.sentSeq = last.seq;
    if (this.unreachableLogged) this.logger.info("control plane reachable again");
    this.unreachableLogged = false;
    if (facts.length === MAX_FACTS_PER_REPORT) this.reportSoon();
  }

  private async register(): Promise<void> {
    const response = await this.client.registerNode({
      node: await this.api.nodeInfo(),
      protocolVersion: pb.PROTOCOL_VERSION,
    });
    pb.checkProtocolVersion(response.protocolVersion);
    const interval = response.heartbeatIntervalMs > 0 ? response.heartbeatIntervalMs : this.intervalMs;
    this.registered = true;
    this.full = true;
    // It may be a control plane that never heard of us (it restarted): send the facts we still
    // hold from the start. Ones it has seen are ignored by their source sequence.
    this.sentSeq = 0;
    if (interval !== this.intervalMs && this.timer !== null) {
      // The control plane sets the pace: a slower first beat would already count as missed.
      this.intervalMs = interval;
      clearTimeout(this.timer);
      this.schedule();
    }
  }

  private unreachable(error: unknown): void {
    const wrapped = WasmatrixError.from(error);
    // Refusals that retrying cannot fix: a person must act (upgrade, or pass --token).
    if (
      wrapped.code === "INCOMPATIBLE_VERSION" ||
      wrapped.code === "UNAUTHENTICATED" ||
      wrapped.code === "PERMISSION_DENIED"
    ) {
      this.logger.error({ error: wrapped.message, code: wrapped.code }, "control plane refused this node");
    } else if (!this.unreachableLogged) {
      this.logger.warn({ error: wrapped.message }, "control plane unreachable; will keep reporting");
    }
    this.unreachableLogged = true;
    this.registered = false;
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer from etcd within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function tokenOption(token: string | undefined): { token?: string } {
  return token === undefined || token === "" ? {} : { token };
}

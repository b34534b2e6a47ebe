import { connect, type WasmatrixClient } from "@wasmatrix/client";
import { NodeId, WasmatrixError } from "@wasmatrix/core";
import { type Logger, silentLogger } from "@wasmatrix/core/logger";
import * as pb from "@wasmatrix/proto";
import { NodeAgent, type NodeAgentOptions } from "./agent.js";
import { viewToProto } from "./convert.js";
import { nodeAgentService } from "./grpc-service.js";
import { LocalNodeApi } from "./local-api.js";

export const DEFAULT_NODE_AGENT_ADDRESS = "127.0.0.1:7401";
/** Facts sent in one report at most; the rest follow in the next. */
const MAX_FACTS_PER_REPORT = 1_000;

export interface NodeDaemonOptions extends Omit<NodeAgentOptions, "logger"> {
  listen?: string;
  /** Where the control plane can reach this node; default: the address it listens on. */
  advertise?: string;
  /** The control plane to register with; without one the node only serves its own API (static lists). */
  controlPlane?: string;
  labels?: Record<string, string>;
  logger?: Logger;
}

export interface NodeDaemon {
  readonly agent: NodeAgent;
  readonly address: string;
  /** Stops every instance, reports that, deregisters and closes the server. */
  close(deadlineMs?: number): Promise<void>;
}

/**
 * A node agent as a process of its own: serves the NodeAgent API, registers with the control
 * plane, and reports its whole instance table and new facts on every change and heartbeat. If
 * the control plane forgets it (it restarted) or cannot be reached, the node registers again
 * as soon as it answers; running instances are never touched by any of that.
 */
export async function startNodeDaemon(options: NodeDaemonOptions = {}): Promise<NodeDaemon> {
  const logger = options.logger ?? silentLogger;
  const nodeId = options.nodeId ?? NodeId.generate();
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
  const server = await pb.startGrpcServer(options.listen ?? DEFAULT_NODE_AGENT_ADDRESS, [
    { definition: pb.NodeAgentService, implementation: nodeAgentService(api) },
  ]);
  info.address ||= server.address;
  const address = info.address;
  const reporter =
    options.controlPlane === undefined
      ? null
      : new Reporter(agent, api, connect(options.controlPlane), logger);
  reporter?.start();
  logger.info({ nodeId: agent.nodeId, address, controlPlane: options.controlPlane }, "node agent listening");
  return {
    agent,
    address,
    async close(deadlineMs) {
      await agent.close(deadlineMs);
      await reporter?.stop();
      await server.close();
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
  private intervalMs = 1_000;
  private unreachableLogged = false;
  private readonly stopChanges: () => void;

  constructor(
    private readonly agent: NodeAgent,
    private readonly api: LocalNodeApi,
    private readonly client: WasmatrixClient,
    private readonly logger: Logger,
  ) {
    // A change is reported at once (coalesced), so the control plane's table follows closely.
    this.stopChanges = agent.onChange(() => this.reportSoon());
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
      this.reportSoon();
      this.schedule();
    }, this.intervalMs);
  }

  private reportSoon(): void {
    if (this.soon !== null) return;
    this.soon = setTimeout(() => {
      this.soon = null;
      if (this.running !== null) {
        this.again = true;
        return;
      }
      this.running = this.report()
        .catch((error: unknown) => this.unreachable(error))
        .finally(() => {
          this.running = null;
          if (this.again) {
            this.again = false;
            this.reportSoon();
          }
        });
    }, 5);
  }

  private async report(): Promise<void> {
    if (!this.registered) await this.register();
    const facts = this.agent.facts.query({ afterSeq: this.sentSeq, limit: MAX_FACTS_PER_REPORT });
    const response = await this.client.reportStatus({
      nodeId: this.agent.nodeId,
      instances: this.agent.list().map(viewToProto),
      facts: facts.map(pb.factToProto),
    });
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
    const interval = response.heartbeatIntervalMs > 0 ? response.heartbeatIntervalMs : 1_000;
    this.registered = true;
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
    if (wrapped.code === "INCOMPATIBLE_VERSION") {
      this.logger.error({ error: wrapped.message }, "control plane refused this node");
    } else if (!this.unreachableLogged) {
      this.logger.warn({ error: wrapped.message }, "control plane unreachable; will keep reporting");
    }
    this.unreachableLogged = true;
    this.registered = false;
  }
}

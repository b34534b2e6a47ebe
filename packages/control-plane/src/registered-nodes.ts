import { ANONYMOUS, ErrorCode, type Metrics, WasmatrixError } from "@wasmatrix/core";
import type { Logger } from "@wasmatrix/core/logger";
import * as pb from "@wasmatrix/proto";
import { connectNode, type TlsMaterial } from "@wasmatrix/proto";
import type { Audit } from "./audit-log.js";
import type { ControlPlaneHooks } from "./grpc-server.js";
import type { NodeSink, NodeSource } from "./node-source.js";

/** What answering a node's registration and reports needs beyond the node table. */
export interface RegistrationSink extends NodeSink {
  readonly heartbeatIntervalMs: number;
  /** The live providers, sent back with every report's answer. */
  liveProviders(): Promise<pb.Provider[]>;
  /** Where a refused registration is recorded (accepted ones are, by `registerNode`). */
  readonly audit: Audit;
}

/**
 * Node agents that register and report over gRPC (RegisterNode, ReportStatus, DeregisterNode):
 * `hooks` are the handlers to serve; the node is reached back at the address it registers.
 */
export class RegisteredNodes implements NodeSource {
  readonly hooks: Required<Pick<ControlPlaneHooks, "registerNode" | "reportStatus" | "deregisterNode">>;

  /**
   * `tls`: the control plane's own certificate, to reach the nodes back with; `metrics`: where the
   * calls to the nodes are timed (gRPC client metrics).
   */
  constructor(
    sink: RegistrationSink,
    logger: Logger,
    { tls, metrics }: { tls?: TlsMaterial | undefined; metrics?: Metrics | undefined } = {},
  ) {
    this.hooks = {
      async registerNode(request, context) {
        const caller = context?.caller ?? ANONYMOUS;
        const node = request.node;
        try {
          pb.checkProtocolVersion(request.protocolVersion);
          if (node === undefined || node.address === "") {
            throw new WasmatrixError(
              ErrorCode.INVALID_REQUEST,
              "a registration needs the node and the address it serves on",
            );
          }
        } catch (error) {
          const refusal = WasmatrixError.from(error);
          await sink.audit
            .append({
              caller,
              action: "node.register",
              target: node?.nodeId ?? "",
              outcome: "refused",
              details: { code: refusal.code, message: refusal.message },
            })
            .catch(() => undefined);
          throw error;
        }
        sink.registerNode(
          node,
          // Over TLS the node must answer there with its own certificate, not just any of the cluster's.
          connectNode(node.address, {
            ...(tls === undefined ? {} : { tls, peer: { kind: "node" as const, id: node.nodeId } }),
            ...(metrics === undefined ? {} : { metrics }),
          }),
          { caller },
        );
        logger.info({ nodeId: node.nodeId, address: node.address, labels: node.labels }, "node registered");
        return { heartbeatIntervalMs: sink.heartbeatIntervalMs, protocolVersion: pb.PROTOCOL_VERSION };
      },
      async reportStatus(request) {
        const known = sink.reportStatus(request.nodeId, request.instances, { partial: request.partial });
        // A node speaks for itself only: a fact naming another node (a forged crash of someone
        // else's instance) is not recorded, whoever sent it.
        const own = request.facts.filter((fact) => fact.nodeId === request.nodeId);
        if (own.length < request.facts.length) {
          logger.warn(
            { nodeId: request.nodeId, dropped: request.facts.length - own.length },
            "dropped facts a node reported for another node",
          );
        }
        if (known) sink.recordProtoFacts(own);
        return { known, providers: known ? await sink.liveProviders() : [] };
      },
      async deregisterNode(request, context) {
        sink.deregisterNode(request.nodeId, context?.caller ?? ANONYMOUS);
        return {};
      },
    };
  }

  /** Registrations arrive through the server that serves `hooks`: nothing to start or stop. */
  start(): void {}

  close(): void {}
}

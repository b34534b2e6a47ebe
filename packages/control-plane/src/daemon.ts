import { connectNode } from "@wasmatrix/client";
import { ErrorCode, WasmatrixError } from "@wasmatrix/core";
import { type Logger, silentLogger } from "@wasmatrix/core/logger";
import * as pb from "@wasmatrix/proto";
import { ControlPlane } from "./control-plane.js";
import { controlPlaneService } from "./grpc-server.js";

export const DEFAULT_CONTROL_PLANE_ADDRESS = "127.0.0.1:7400";

export interface ControlPlaneDaemonOptions {
  listen?: string;
  heartbeatIntervalMs?: number;
  /** Node agents known by address instead of by registration; polled every heartbeat interval. */
  staticNodes?: string[];
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
  });
  const service = controlPlaneService(controlPlane, {
    async registerNode(request) {
      pb.checkProtocolVersion(request.protocolVersion);
      const node = request.node;
      if (node === undefined || node.address === "") {
        throw new WasmatrixError(
          ErrorCode.INVALID_REQUEST,
          "a registration needs the node and the address it serves on",
        );
      }
      controlPlane.registerNode(node, connectNode(node.address));
      logger.info({ nodeId: node.nodeId, address: node.address, labels: node.labels }, "node registered");
      return { heartbeatIntervalMs: controlPlane.heartbeatIntervalMs, protocolVersion: pb.PROTOCOL_VERSION };
    },
    async reportStatus(request) {
      const known = controlPlane.reportStatus(request.nodeId, request.instances);
      if (known) controlPlane.recordProtoFacts(request.facts);
      return { known };
    },
    async deregisterNode(request) {
      controlPlane.deregisterNode(request.nodeId);
      return {};
    },
  });
  const server = await pb.startGrpcServer(options.listen ?? DEFAULT_CONTROL_PLANE_ADDRESS, [
    { definition: pb.ControlPlaneService, implementation: service },
  ]);
  controlPlane.startLivenessChecks();
  const pollers = (options.staticNodes ?? []).map((address) => pollStaticNode(controlPlane, address, logger));
  logger.info({ address: server.address }, "control plane listening");
  return {
    controlPlane,
    address: server.address,
    async close() {
      for (const stop of pollers) stop();
      controlPlane.close();
      await server.close();
    },
  };
}

/**
 * A node from a static list cannot register: the control plane asks it who it is and what it
 * runs on every heartbeat interval instead, and a node that stops answering is lost like any other.
 */
function pollStaticNode(controlPlane: ControlPlane, address: string, logger: Logger): () => void {
  // Polls give up within an interval; the calls the control plane routes get the usual deadline.
  const probe = connectNode(address, { timeoutMs: controlPlane.heartbeatIntervalMs });
  const api = connectNode(address);
  let registered: string | null = null;
  let busy = false;
  const poll = async () => {
    if (busy) return;
    busy = true;
    try {
      const info = await probe.nodeInfo();
      if (registered !== info.nodeId) {
        controlPlane.registerNode({ ...info, address }, api);
        registered = info.nodeId;
      }
      controlPlane.reportStatus(
        info.nodeId,
        (await probe.listInstances({ nodeId: "", status: "" })).instances,
      );
    } catch (error) {
      logger.debug({ address, error: (error as Error).message }, "static node did not answer");
    } finally {
      busy = false;
    }
  };
  void poll();
  const timer = setInterval(() => void poll(), controlPlane.heartbeatIntervalMs);
  return () => {
    clearInterval(timer);
    probe.close();
    api.close();
  };
}

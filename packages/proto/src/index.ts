export type { ControlPlaneApi, NodeAgentApi } from "./api.js";
export * from "./convert.js";
export * from "./errors.js";
export {
  AssignCapabilityRequest,
  ControlPlaneClient,
  type ControlPlaneServer,
  ControlPlaneService,
  DeregisterNodeRequest,
  ListNodesRequest,
  ListNodesResponse,
  QueryInstanceRequest,
  QueryInstanceResponse,
  RegisterNodeRequest,
  RegisterNodeResponse,
  ReportStatusRequest,
  ReportStatusResponse,
  RevokeCapabilityRequest,
  ServerInfoResponse,
  WatchEventsRequest,
} from "./generated/wasmatrix/v1/control_plane.js";
export {
  NodeAgentClient,
  type NodeAgentServer,
  NodeAgentService,
  QueryStatusRequest,
  SetAssignmentsRequest,
} from "./generated/wasmatrix/v1/node_agent.js";
export * from "./generated/wasmatrix/v1/types.js";
export * from "./server.js";
export * from "./version.js";

export type { ControlPlaneApi, NodeAgentApi } from "./api.js";
export * from "./convert.js";
export * from "./dial.js";
export * from "./errors.js";
export {
  AssignCapabilityRequest,
  AuditEntry as AuditEntryMessage,
  ControlPlaneClient,
  type ControlPlaneServer,
  ControlPlaneService,
  DeregisterNodeRequest,
  ListNodesRequest,
  ListNodesResponse,
  ListProvidersResponse,
  QueryInstanceRequest,
  QueryInstanceResponse,
  ReadAuditRequest,
  ReadAuditResponse,
  RegisterNodeRequest,
  RegisterNodeResponse,
  RegisterProviderRequest,
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
export {
  CapabilityProviderClient,
  type CapabilityProviderServer,
  CapabilityProviderService,
  ProviderCallRequest,
  ProviderCallResponse,
} from "./generated/wasmatrix/v1/provider.js";
export * from "./generated/wasmatrix/v1/types.js";
export * from "./grpc-log.js";
export * from "./server.js";
export * from "./version.js";

export * from "./access.js";
export type { ControlPlaneApi, NodeAgentApi } from "./api.js";
export * from "./convert.js";
export * from "./dial.js";
export * from "./errors.js";
export {
  AddRouteRequest,
  AddTriggerRequest,
  AssignCapabilityRequest,
  AuditEntry as AuditEntryMessage,
  ControlPlaneClient,
  type ControlPlaneServer,
  ControlPlaneService,
  CreateTokenRequest,
  CreateTokenResponse,
  DeregisterNodeRequest,
  ListNodesRequest,
  ListNodesResponse,
  ListProvidersResponse,
  ListRoutesResponse,
  ListTokensResponse,
  ListTriggersRequest,
  ListTriggersResponse,
  QueryInstanceRequest,
  QueryInstanceResponse,
  ReadAuditRequest,
  ReadAuditResponse,
  RecordDeploymentRequest,
  RegisterNodeRequest,
  RegisterNodeResponse,
  RegisterProviderRequest,
  RemoveRouteRequest,
  RemoveTriggerRequest,
  ReportStatusRequest,
  ReportStatusResponse,
  RevokeCapabilityRequest,
  RevokeTokenRequest,
  Route,
  ServerInfoResponse,
  TokenInfo,
  Trigger,
  TriggerCounters,
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
export * from "./routes.js";
export * from "./rpc-metrics.js";
export * from "./server.js";
export * from "./tls.js";
export * from "./version.js";

import type { Caller } from "@wasmatrix/core";
import type {
  AddRouteRequest,
  AddTriggerRequest,
  AssignCapabilityRequest,
  ListNodesResponse,
  ListRoutesResponse,
  ListTriggersResponse,
  QueryInstanceRequest,
  QueryInstanceResponse,
  ReadAuditRequest,
  ReadAuditResponse,
  RecordDeploymentRequest,
  RemoveRouteRequest,
  RemoveTriggerRequest,
  RevokeCapabilityRequest,
  Route,
  ServerInfoResponse,
  Trigger,
  WatchEventsRequest,
} from "./generated/wasmatrix/v1/control_plane.js";
import type { QueryStatusRequest, SetAssignmentsRequest } from "./generated/wasmatrix/v1/node_agent.js";
import type {
  Fact,
  Instance,
  InvokeRequest,
  InvokeResponse,
  ListInstancesRequest,
  ListInstancesResponse,
  LogLine,
  Node,
  StartInstanceRequest,
  StopInstanceRequest,
  StreamLogsRequest,
} from "./generated/wasmatrix/v1/types.js";

/**
 * The control plane's user-facing API as plain async methods over the protocol's messages. The
 * control plane implements it, the gRPC server exposes any implementation of it, and the gRPC
 * client implements it again on the far side — so the embedded mode and a remote cluster are
 * interchangeable to a caller. Failures are WasmatrixErrors.
 */
export interface ControlPlaneApi {
  startInstance(request: StartInstanceRequest, caller?: Caller): Promise<Instance>;
  stopInstance(request: StopInstanceRequest, caller?: Caller): Promise<Instance>;
  queryInstance(request: QueryInstanceRequest): Promise<QueryInstanceResponse>;
  listInstances(request: ListInstancesRequest): Promise<ListInstancesResponse>;
  /** `signal` aborting means the caller went away: a queued invocation is then dropped, never run. */
  invoke(request: InvokeRequest, signal?: AbortSignal): Promise<InvokeResponse>;
  assignCapability(request: AssignCapabilityRequest, caller?: Caller): Promise<Instance>;
  revokeCapability(request: RevokeCapabilityRequest, caller?: Caller): Promise<Instance>;
  listNodes(): Promise<ListNodesResponse>;
  serverInfo(): Promise<ServerInfoResponse>;
  /** Records the app.deployed fact of a revision `wasmatrix deploy` or `rollback` put in service. */
  recordDeployment(request: RecordDeploymentRequest): Promise<Fact>;
  /** Cron and queue triggers (docs/triggers.md). */
  addTrigger(request: AddTriggerRequest): Promise<Trigger>;
  removeTrigger(request: RemoveTriggerRequest): Promise<Trigger>;
  listTriggers(): Promise<ListTriggersResponse>;
  /** The control plane's own audit log, filtered (docs/security.md, "Audit log"). */
  readAudit(request: ReadAuditRequest): Promise<ReadAuditResponse>;
  /** Streams facts until `signal` aborts (or, with `noFollow`, until the retained ones are sent). */
  watchEvents(request: WatchEventsRequest, signal?: AbortSignal): AsyncIterable<Fact>;
  streamLogs(request: StreamLogsRequest, signal?: AbortSignal): AsyncIterable<LogLine>;
  /** HTTP routes for the gateways (docs/gateway.md). */
  addRoute(request: AddRouteRequest): Promise<Route>;
  removeRoute(request: RemoveRouteRequest): Promise<Route>;
  listRoutes(): Promise<ListRoutesResponse>;
}

/** A node agent's API, as the control plane uses it: in-process for the embedded node, over gRPC otherwise. */
export interface NodeAgentApi {
  startInstance(request: StartInstanceRequest): Promise<Instance>;
  stopInstance(request: StopInstanceRequest): Promise<Instance>;
  queryStatus(request: QueryStatusRequest): Promise<Instance>;
  /** `signal` aborting means the caller went away: a queued invocation is then dropped, never run. */
  invoke(request: InvokeRequest, signal?: AbortSignal): Promise<InvokeResponse>;
  listInstances(request: ListInstancesRequest): Promise<ListInstancesResponse>;
  setAssignments(request: SetAssignmentsRequest): Promise<Instance>;
  streamLogs(request: StreamLogsRequest, signal?: AbortSignal): AsyncIterable<LogLine>;
  nodeInfo(): Promise<Node>;
}

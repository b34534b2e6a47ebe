import type {
  AddTriggerRequest,
  AssignCapabilityRequest,
  ListNodesResponse,
  ListTriggersResponse,
  QueryInstanceRequest,
  QueryInstanceResponse,
  RecordDeploymentRequest,
  RemoveTriggerRequest,
  RevokeCapabilityRequest,
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
  startInstance(request: StartInstanceRequest): Promise<Instance>;
  stopInstance(request: StopInstanceRequest): Promise<Instance>;
  queryInstance(request: QueryInstanceRequest): Promise<QueryInstanceResponse>;
  listInstances(request: ListInstancesRequest): Promise<ListInstancesResponse>;
  invoke(request: InvokeRequest): Promise<InvokeResponse>;
  assignCapability(request: AssignCapabilityRequest): Promise<Instance>;
  revokeCapability(request: RevokeCapabilityRequest): Promise<Instance>;
  listNodes(): Promise<ListNodesResponse>;
  serverInfo(): Promise<ServerInfoResponse>;
  /** Records the app.deployed fact of a revision `wasmatrix deploy` or `rollback` put in service. */
  recordDeployment(request: RecordDeploymentRequest): Promise<Fact>;
  /** Cron and queue triggers (docs/triggers.md). */
  addTrigger(request: AddTriggerRequest): Promise<Trigger>;
  removeTrigger(request: RemoveTriggerRequest): Promise<Trigger>;
  listTriggers(): Promise<ListTriggersResponse>;
  /** Streams facts until `signal` aborts (or, with `noFollow`, until the retained ones are sent). */
  watchEvents(request: WatchEventsRequest, signal?: AbortSignal): AsyncIterable<Fact>;
  streamLogs(request: StreamLogsRequest, signal?: AbortSignal): AsyncIterable<LogLine>;
}

/** A node agent's API, as the control plane uses it: in-process for the embedded node, over gRPC otherwise. */
export interface NodeAgentApi {
  startInstance(request: StartInstanceRequest): Promise<Instance>;
  stopInstance(request: StopInstanceRequest): Promise<Instance>;
  queryStatus(request: QueryStatusRequest): Promise<Instance>;
  invoke(request: InvokeRequest): Promise<InvokeResponse>;
  listInstances(request: ListInstancesRequest): Promise<ListInstancesResponse>;
  setAssignments(request: SetAssignmentsRequest): Promise<Instance>;
  streamLogs(request: StreamLogsRequest, signal?: AbortSignal): AsyncIterable<LogLine>;
  nodeInfo(): Promise<Node>;
}

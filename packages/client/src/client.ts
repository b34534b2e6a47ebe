import { type CallOptions, type ClientReadableStream, credentials, Metadata, status } from "@grpc/grpc-js";
import { ErrorCode, WasmatrixError } from "@wasmatrix/core";
import * as pb from "@wasmatrix/proto";

export const DEFAULT_SERVER = "127.0.0.1:7400";

export interface ClientOptions {
  /** Deadline for each unary call. Default 30 s (an invocation may take as long as its guest's limit). */
  timeoutMs?: number;
}

export interface WasmatrixClient extends pb.ControlPlaneApi {
  readonly address: string;
  /** What node agents call: announce themselves, report, leave. */
  registerNode(request: pb.RegisterNodeRequest): Promise<pb.RegisterNodeResponse>;
  reportStatus(request: pb.ReportStatusRequest): Promise<pb.ReportStatusResponse>;
  deregisterNode(request: pb.DeregisterNodeRequest): Promise<pb.Empty>;
  /** What provider processes call: announce themselves on every heartbeat. */
  registerProvider(request: pb.RegisterProviderRequest): Promise<pb.Empty>;
  listProviders(): Promise<pb.ListProvidersResponse>;
  close(): void;
}

type Unary<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (error: Error | null, response: Res) => void,
) => unknown;

/**
 * The control-plane API over gRPC. Every failure is a WasmatrixError rebuilt from the server's
 * metadata, or — when the server never answered — NODE_UNAVAILABLE / TIMEOUT.
 */
export function connect(
  address: string = process.env["WASMATRIX_SERVER"] ?? DEFAULT_SERVER,
  options: ClientOptions = {},
): WasmatrixClient {
  const raw = new pb.ControlPlaneClient(address, credentials.createInsecure(), CHANNEL_OPTIONS);
  const timeoutMs = options.timeoutMs ?? 30_000;

  const { call, stream } = rpc(raw, timeoutMs);

  return {
    address,
    startInstance: (r) => call(raw.startInstance as Unary<pb.StartInstanceRequest, pb.Instance>, r),
    stopInstance: (r) => call(raw.stopInstance as Unary<pb.StopInstanceRequest, pb.Instance>, r),
    queryInstance: (r) =>
      call(raw.queryInstance as Unary<pb.QueryInstanceRequest, pb.QueryInstanceResponse>, r),
    listInstances: (r) =>
      call(raw.listInstances as Unary<pb.ListInstancesRequest, pb.ListInstancesResponse>, r),
    invoke: (r) => call(raw.invoke as Unary<pb.InvokeRequest, pb.InvokeResponse>, r),
    assignCapability: (r) => call(raw.assignCapability as Unary<pb.AssignCapabilityRequest, pb.Instance>, r),
    revokeCapability: (r) => call(raw.revokeCapability as Unary<pb.RevokeCapabilityRequest, pb.Instance>, r),
    listNodes: () => call(raw.listNodes as Unary<pb.ListNodesRequest, pb.ListNodesResponse>, {}),
    serverInfo: () => call(raw.serverInfo as Unary<pb.Empty, pb.ServerInfoResponse>, {}),
    registerNode: (r) => call(raw.registerNode as Unary<pb.RegisterNodeRequest, pb.RegisterNodeResponse>, r),
    reportStatus: (r) => call(raw.reportStatus as Unary<pb.ReportStatusRequest, pb.ReportStatusResponse>, r),
    deregisterNode: (r) => call(raw.deregisterNode as Unary<pb.DeregisterNodeRequest, pb.Empty>, r),
    registerProvider: (r) => call(raw.registerProvider as Unary<pb.RegisterProviderRequest, pb.Empty>, r),
    listProviders: () => call(raw.listProviders as Unary<pb.Empty, pb.ListProvidersResponse>, {}),
    watchEvents: (r, signal) => stream(() => raw.watchEvents(r), signal),
    streamLogs: (r, signal) => stream(() => raw.streamLogs(r), signal),
    close: () => raw.close(),
  };
}

type RawClient = { close(): void };

/**
 * Promise and async-iterable forms of a generated grpc-js client's calls, with errors rebuilt
 * (by `rebuild`, pb.fromServiceError unless the peer needs its own words).
 */
function rpc(
  raw: RawClient,
  timeoutMs: number,
  rebuild: (error: unknown) => WasmatrixError = pb.fromServiceError,
) {
  function call<Req, Res>(method: Unary<Req, Res>, request: Req): Promise<Res> {
    return new Promise((resolve, reject) => {
      method.call(raw, request, new Metadata(), { deadline: Date.now() + timeoutMs }, (error, response) =>
        error ? reject(rebuild(error)) : resolve(response),
      );
    });
  }

  async function* stream<T>(open: () => ClientReadableStream<T>, signal?: AbortSignal): AsyncIterable<T> {
    const s = open();
    const cancel = () => s.cancel();
    signal?.addEventListener("abort", cancel);
    try {
      for await (const item of s as AsyncIterable<T>) yield item;
    } catch (error) {
      if ((error as { code?: number }).code === status.CANCELLED && signal?.aborted) return;
      throw rebuild(error);
    } finally {
      signal?.removeEventListener("abort", cancel);
      s.cancel();
    }
  }

  return { call, stream };
}

const CHANNEL_OPTIONS = {
  "grpc.max_receive_message_length": 80 * 1024 * 1024,
  "grpc.max_send_message_length": 80 * 1024 * 1024,
  // grpc-js waits 1 s after a failed connection and backs off to 120 s: a node would find a
  // restarted control plane minutes late. Peers here are daemons that come back quickly.
  "grpc.initial_reconnect_backoff_ms": 100,
  "grpc.max_reconnect_backoff_ms": 1_000,
};

/**
 * ListFacts of node_agent.proto. It is spelled out here rather than in @wasmatrix/proto's
 * NodeAgentApi, which predates it, so that the embedded node need not implement it.
 */
export interface NodeFactsRequest {
  /** Facts with a node sequence above this; 0 for all the node still holds. */
  afterSeq: number;
  /** At most this many; 0 for the node's default. */
  limit: number;
}

export interface NodeFactsApi {
  listFacts(request: NodeFactsRequest): Promise<{ facts: pb.Fact[] }>;
}

/** A node agent reached over gRPC. */
export type NodeConnection = pb.NodeAgentApi & NodeFactsApi & { close(): void };

/** A node agent's API over gRPC: how a control plane reaches the nodes it does not host itself. */
export function connectNode(address: string, options: ClientOptions = {}): NodeConnection {
  const raw = new pb.NodeAgentClient(address, credentials.createInsecure(), CHANNEL_OPTIONS);
  const { call, stream } = rpc(raw, options.timeoutMs ?? 30_000, (error) => nodeError(address, error));
  return {
    startInstance: (r) => call(raw.startInstance as Unary<pb.StartInstanceRequest, pb.Instance>, r),
    stopInstance: (r) => call(raw.stopInstance as Unary<pb.StopInstanceRequest, pb.Instance>, r),
    queryStatus: (r) => call(raw.queryStatus as Unary<pb.QueryStatusRequest, pb.Instance>, r),
    invoke: (r) => call(raw.invoke as Unary<pb.InvokeRequest, pb.InvokeResponse>, r),
    listInstances: (r) =>
      call(raw.listInstances as Unary<pb.ListInstancesRequest, pb.ListInstancesResponse>, r),
    setAssignments: (r) => call(raw.setAssignments as Unary<pb.SetAssignmentsRequest, pb.Instance>, r),
    nodeInfo: () => call(raw.nodeInfo as Unary<pb.Empty, pb.Node>, {}),
    listFacts: (r) => call(raw.listFacts as Unary<NodeFactsRequest, { facts: pb.Fact[] }>, r),
    streamLogs: (r, signal) => stream(() => raw.streamLogs(r), signal),
    close: () => raw.close(),
  };
}

/**
 * A node that cannot be reached is said to be one, without the transport's `grpcStatus`: a
 * control plane relays this error to its own client, whose CLI would otherwise take it for its
 * own server being down and ask whether `wasmatrix up` is running.
 */
function nodeError(address: string, error: unknown): WasmatrixError {
  const rebuilt = pb.fromServiceError(error);
  if (!pb.isUnreachable(rebuilt)) return rebuilt;
  return new WasmatrixError(
    ErrorCode.NODE_UNAVAILABLE,
    `the node agent at ${address} is unreachable (${rebuilt.message}); \`wasmatrix nodes\` shows its status`,
    { address, transportStatus: rebuilt.details["grpcStatus"] },
    { cause: rebuilt },
  );
}

export interface ProviderConnection {
  call(request: pb.ProviderCallRequest, timeoutMs: number): Promise<pb.ProviderCallResponse>;
  providerInfo(): Promise<pb.Provider>;
  close(): void;
}

/** A provider process reached over gRPC: each call carries the guest's remaining time as its deadline. */
export function connectProvider(address: string): ProviderConnection {
  const raw = new pb.CapabilityProviderClient(address, credentials.createInsecure(), CHANNEL_OPTIONS);
  return {
    call: (request, timeoutMs) =>
      rpc(raw, timeoutMs).call(raw.call as Unary<pb.ProviderCallRequest, pb.ProviderCallResponse>, request),
    providerInfo: () => rpc(raw, 5_000).call(raw.providerInfo as Unary<pb.Empty, pb.Provider>, {}),
    close: () => raw.close(),
  };
}

/**
 * How wasmatrix processes dial each other over gRPC: a control plane, a node agent, a provider.
 * The daemons use these directly; @wasmatrix/client builds the user's SDK on them.
 */
import { type CallOptions, type ClientReadableStream, Metadata, status } from "@grpc/grpc-js";
import { type CertificateIdentity, ErrorCode, type Metrics, WasmatrixError } from "@wasmatrix/core";
import { AUTHORIZATION_METADATA_KEY } from "./access.js";
import type { ControlPlaneApi, NodeAgentApi } from "./api.js";
import { fromServiceError, isUnreachable } from "./errors.js";
import * as cp from "./generated/wasmatrix/v1/control_plane.js";
import * as na from "./generated/wasmatrix/v1/node_agent.js";
import * as pv from "./generated/wasmatrix/v1/provider.js";
import type * as t from "./generated/wasmatrix/v1/types.js";
import { clientMetricsInterceptor } from "./rpc-metrics.js";
import { channelCredentials, type TlsMaterial } from "./tls.js";

export interface ClientOptions {
  /** Deadline for each unary call. Default 30 s (an invocation may take as long as its guest's limit). */
  timeoutMs?: number;
  /** An API token, sent as `authorization: Bearer <token>` with every call. */
  token?: string;
  /** Mutual TLS: the CA the server's certificate must chain to, and this process's own certificate. */
  tls?: TlsMaterial | undefined;
  /** Over TLS, the identity the server's certificate must name. */
  peer?: CertificateIdentity | undefined;
  /** Where each call's latency and status go (gRPC client metrics). Default: nowhere. */
  metrics?: Metrics;
}

/** The control plane over gRPC: the user API plus what node agents and provider processes call. */
export interface ControlPlaneConnection extends ControlPlaneApi {
  readonly address: string;
  /** What node agents call: announce themselves, report, leave. */
  registerNode(request: cp.RegisterNodeRequest): Promise<cp.RegisterNodeResponse>;
  reportStatus(request: cp.ReportStatusRequest): Promise<cp.ReportStatusResponse>;
  deregisterNode(request: cp.DeregisterNodeRequest): Promise<t.Empty>;
  /** What provider processes call: announce themselves on every heartbeat. */
  registerProvider(request: cp.RegisterProviderRequest): Promise<t.Empty>;
  listProviders(): Promise<cp.ListProvidersResponse>;
  /** API tokens (admin only). */
  createToken(request: cp.CreateTokenRequest): Promise<cp.CreateTokenResponse>;
  listTokens(): Promise<cp.ListTokensResponse>;
  revokeToken(request: cp.RevokeTokenRequest): Promise<cp.TokenInfo>;
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
export function connectControlPlane(address: string, options: ClientOptions = {}): ControlPlaneConnection {
  const raw = new cp.ControlPlaneClient(
    address,
    channelCredentials(options.tls, options.peer),
    channelOptions(options),
  );
  const timeoutMs = options.timeoutMs ?? 30_000;

  const { call, stream } = rpc(raw, timeoutMs, fromServiceError, options.token);

  return {
    address,
    startInstance: (r) => call(raw.startInstance as Unary<t.StartInstanceRequest, t.Instance>, r),
    stopInstance: (r) => call(raw.stopInstance as Unary<t.StopInstanceRequest, t.Instance>, r),
    queryInstance: (r) =>
      call(raw.queryInstance as Unary<cp.QueryInstanceRequest, cp.QueryInstanceResponse>, r),
    listInstances: (r) =>
      call(raw.listInstances as Unary<t.ListInstancesRequest, t.ListInstancesResponse>, r),
    invoke: (r, signal) => call(raw.invoke as Unary<t.InvokeRequest, t.InvokeResponse>, r, signal),
    assignCapability: (r) => call(raw.assignCapability as Unary<cp.AssignCapabilityRequest, t.Instance>, r),
    revokeCapability: (r) => call(raw.revokeCapability as Unary<cp.RevokeCapabilityRequest, t.Instance>, r),
    listNodes: () => call(raw.listNodes as Unary<cp.ListNodesRequest, cp.ListNodesResponse>, {}),
    addTrigger: (r) => call(raw.addTrigger as Unary<cp.AddTriggerRequest, cp.Trigger>, r),
    removeTrigger: (r) => call(raw.removeTrigger as Unary<cp.RemoveTriggerRequest, cp.Trigger>, r),
    listTriggers: () => call(raw.listTriggers as Unary<cp.ListTriggersRequest, cp.ListTriggersResponse>, {}),
    serverInfo: () => call(raw.serverInfo as Unary<t.Empty, cp.ServerInfoResponse>, {}),
    recordDeployment: (r) => call(raw.recordDeployment as Unary<cp.RecordDeploymentRequest, t.Fact>, r),
    readAudit: (r) => call(raw.readAudit as Unary<cp.ReadAuditRequest, cp.ReadAuditResponse>, r),
    registerNode: (r) => call(raw.registerNode as Unary<cp.RegisterNodeRequest, cp.RegisterNodeResponse>, r),
    reportStatus: (r) => call(raw.reportStatus as Unary<cp.ReportStatusRequest, cp.ReportStatusResponse>, r),
    deregisterNode: (r) => call(raw.deregisterNode as Unary<cp.DeregisterNodeRequest, t.Empty>, r),
    registerProvider: (r) => call(raw.registerProvider as Unary<cp.RegisterProviderRequest, t.Empty>, r),
    listProviders: () => call(raw.listProviders as Unary<t.Empty, cp.ListProvidersResponse>, {}),
    addRoute: (r) => call(raw.addRoute as Unary<cp.AddRouteRequest, cp.Route>, r),
    removeRoute: (r) => call(raw.removeRoute as Unary<cp.RemoveRouteRequest, cp.Route>, r),
    listRoutes: () => call(raw.listRoutes as Unary<t.Empty, cp.ListRoutesResponse>, {}),
    createToken: (r) => call(raw.createToken as Unary<cp.CreateTokenRequest, cp.CreateTokenResponse>, r),
    listTokens: () => call(raw.listTokens as Unary<t.Empty, cp.ListTokensResponse>, {}),
    revokeToken: (r) => call(raw.revokeToken as Unary<cp.RevokeTokenRequest, cp.TokenInfo>, r),
    watchEvents: (r, signal) => stream((m) => raw.watchEvents(r, m), signal),
    streamLogs: (r, signal) => stream((m) => raw.streamLogs(r, m), signal),
    close: () => raw.close(),
  };
}

type RawClient = { close(): void };

/**
 * Promise and async-iterable forms of a generated grpc-js client's calls, with errors rebuilt
 * (by `rebuild`, fromServiceError unless the peer needs its own words).
 */
function rpc(
  raw: RawClient,
  timeoutMs: number,
  rebuild: (error: unknown) => WasmatrixError = fromServiceError,
  token?: string,
) {
  const metadata = () => {
    const m = new Metadata();
    if (token !== undefined && token !== "") m.set(AUTHORIZATION_METADATA_KEY, `Bearer ${token}`);
    return m;
  };
  /** With `signal`, aborting cancels the call: the server sees it and drops queued work. */
  function call<Req, Res>(method: Unary<Req, Res>, request: Req, signal?: AbortSignal): Promise<Res> {
    return new Promise((resolve, reject) => {
      const cancel = () => (pending as { cancel?: () => void }).cancel?.();
      const pending = method.call(
        raw,
        request,
        metadata(),
        { deadline: Date.now() + timeoutMs },
        (error, response) => {
          signal?.removeEventListener("abort", cancel);
          error ? reject(rebuild(error)) : resolve(response);
        },
      );
      signal?.addEventListener("abort", cancel, { once: true });
    });
  }

  async function* stream<T>(
    open: (metadata: Metadata) => ClientReadableStream<T>,
    signal?: AbortSignal,
  ): AsyncIterable<T> {
    const s = open(metadata());
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

/** No interceptor at all without metrics: the call path stays what it was. */
function channelOptions(options: ClientOptions) {
  return options.metrics === undefined
    ? CHANNEL_OPTIONS
    : { ...CHANNEL_OPTIONS, interceptors: [clientMetricsInterceptor(options.metrics)] };
}

/**
 * ListFacts of node_agent.proto. It is spelled out here rather than in NodeAgentApi, which
 * predates it, so that the embedded node need not implement it.
 */
export interface NodeFactsRequest {
  /** Facts with a node sequence above this; 0 for all the node still holds. */
  afterSeq: number;
  /** At most this many; 0 for the node's default. */
  limit: number;
}

export interface NodeFactsApi {
  listFacts(request: NodeFactsRequest): Promise<{ facts: t.Fact[] }>;
}

/** A node agent reached over gRPC. */
export type NodeConnection = NodeAgentApi & NodeFactsApi & { close(): void };

/** A node agent's API over gRPC: how a control plane reaches the nodes it does not host itself. */
export function connectNode(address: string, options: ClientOptions = {}): NodeConnection {
  const raw = new na.NodeAgentClient(
    address,
    channelCredentials(options.tls, options.peer),
    channelOptions(options),
  );
  const { call, stream } = rpc(raw, options.timeoutMs ?? 30_000, (error) => nodeError(address, error));
  return {
    startInstance: (r) => call(raw.startInstance as Unary<t.StartInstanceRequest, t.Instance>, r),
    stopInstance: (r) => call(raw.stopInstance as Unary<t.StopInstanceRequest, t.Instance>, r),
    queryStatus: (r) => call(raw.queryStatus as Unary<na.QueryStatusRequest, t.Instance>, r),
    invoke: (r, signal) => call(raw.invoke as Unary<t.InvokeRequest, t.InvokeResponse>, r, signal),
    listInstances: (r) =>
      call(raw.listInstances as Unary<t.ListInstancesRequest, t.ListInstancesResponse>, r),
    setAssignments: (r) => call(raw.setAssignments as Unary<na.SetAssignmentsRequest, t.Instance>, r),
    nodeInfo: () => call(raw.nodeInfo as Unary<t.Empty, t.Node>, {}),
    listFacts: (r) => call(raw.listFacts as Unary<NodeFactsRequest, { facts: t.Fact[] }>, r),
    streamLogs: (r, signal) => stream((m) => raw.streamLogs(r, m), signal),
    close: () => raw.close(),
  };
}

/**
 * A node that cannot be reached is said to be one, without the transport's `grpcStatus`: a
 * control plane relays this error to its own client, whose CLI would otherwise take it for its
 * own server being down and ask whether `wasmatrix up` is running.
 */
function nodeError(address: string, error: unknown): WasmatrixError {
  const rebuilt = fromServiceError(error);
  if (!isUnreachable(rebuilt)) return rebuilt;
  return new WasmatrixError(
    ErrorCode.NODE_UNAVAILABLE,
    `the node agent at ${address} is unreachable (${rebuilt.message}); \`wasmatrix nodes\` shows its status`,
    { address, transportStatus: rebuilt.details["grpcStatus"] },
    { cause: rebuilt },
  );
}

export interface ProviderConnection {
  call(request: pv.ProviderCallRequest, timeoutMs: number): Promise<pv.ProviderCallResponse>;
  providerInfo(): Promise<t.Provider>;
  close(): void;
}

/** A provider process reached over gRPC: each call carries the guest's remaining time as its deadline. */
export function connectProvider(
  address: string,
  options: Pick<ClientOptions, "tls" | "peer" | "metrics"> = {},
): ProviderConnection {
  const raw = new pv.CapabilityProviderClient(
    address,
    channelCredentials(options.tls, options.peer),
    channelOptions(options),
  );
  return {
    call: (request, timeoutMs) =>
      rpc(raw, timeoutMs).call(raw.call as Unary<pv.ProviderCallRequest, pv.ProviderCallResponse>, request),
    providerInfo: () => rpc(raw, 5_000).call(raw.providerInfo as Unary<t.Empty, t.Provider>, {}),
    close: () => raw.close(),
  };
}

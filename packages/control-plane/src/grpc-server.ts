import { once } from "node:events";
import {
  type handleServerStreamingCall,
  type handleUnaryCall,
  Server,
  ServerCredentials,
  type ServerWritableStream,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";
import { ErrorCode, WasmatrixError } from "@wasmatrix/core";
import * as pb from "@wasmatrix/proto";

/** Adapts a promise-returning method to a grpc-js unary handler with wasmatrix error metadata. */
export function unary<Req, Res>(fn: (request: Req) => Promise<Res>): handleUnaryCall<Req, Res> {
  return (call, callback) => {
    fn(call.request).then(
      (response) => callback(null, response),
      (error: unknown) => callback(pb.toServiceError(error)),
    );
  };
}

/** Adapts an async iterable to a server stream that honours back-pressure and cancellation. */
export function streaming<Req, Res>(
  fn: (request: Req, signal: AbortSignal) => AsyncIterable<Res>,
): handleServerStreamingCall<Req, Res> {
  return (call: ServerWritableStream<Req, Res>) => {
    const abort = new AbortController();
    call.on("cancelled", () => abort.abort());
    call.on("close", () => abort.abort());
    void (async () => {
      try {
        for await (const item of fn(call.request, abort.signal)) {
          if (abort.signal.aborted) break;
          if (!call.write(item)) await once(call, "drain", { signal: abort.signal });
        }
        if (!abort.signal.aborted) call.end();
      } catch (error) {
        if (!abort.signal.aborted) call.destroy(pb.toServiceError(error) as Error);
      }
    })();
  };
}

export interface ControlPlaneHooks {
  registerNode?(request: pb.RegisterNodeRequest): Promise<pb.RegisterNodeResponse>;
  reportStatus?(request: pb.ReportStatusRequest): Promise<pb.ReportStatusResponse>;
}

function notHere(what: string): () => Promise<never> {
  return async () => {
    throw new WasmatrixError(
      ErrorCode.FAILED_PRECONDITION,
      `${what} is not served here: this server runs in embedded mode with its own node`,
    );
  };
}

/** The ControlPlane gRPC service over any implementation of the API. */
export function controlPlaneService(
  api: pb.ControlPlaneApi,
  hooks: ControlPlaneHooks = {},
): UntypedServiceImplementation {
  const handlers: pb.ControlPlaneServer = {
    startInstance: unary((r) => api.startInstance(r)),
    stopInstance: unary((r) => api.stopInstance(r)),
    queryInstance: unary((r) => api.queryInstance(r)),
    listInstances: unary((r) => api.listInstances(r)),
    invoke: unary((r) => api.invoke(r)),
    assignCapability: unary((r) => api.assignCapability(r)),
    revokeCapability: unary((r) => api.revokeCapability(r)),
    listNodes: unary(() => api.listNodes()),
    serverInfo: unary(() => api.serverInfo()),
    watchEvents: streaming((r, signal) => api.watchEvents(r, signal)),
    streamLogs: streaming((r, signal) => api.streamLogs(r, signal)),
    registerNode: unary(hooks.registerNode ?? notHere("RegisterNode")),
    reportStatus: unary(hooks.reportStatus ?? notHere("ReportStatus")),
  };
  return handlers as unknown as UntypedServiceImplementation;
}

export interface RunningServer {
  readonly address: string;
  readonly port: number;
  close(graceMs?: number): Promise<void>;
}

/** Binds a gRPC server with the given services; `address` may use port 0 for any free port. */
export async function startGrpcServer(
  address: string,
  services: { definition: ServiceDefinition; implementation: UntypedServiceImplementation }[],
): Promise<RunningServer> {
  const server = new Server({
    "grpc.max_receive_message_length": 80 * 1024 * 1024,
    "grpc.max_send_message_length": 80 * 1024 * 1024,
  });
  for (const { definition, implementation } of services) server.addService(definition, implementation);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(address, ServerCredentials.createInsecure(), (error, boundPort) =>
      error ? reject(bindError(address, error)) : resolve(boundPort),
    );
  });
  const host = address.slice(0, address.lastIndexOf(":"));
  return {
    address: `${host}:${port}`,
    port,
    close: (graceMs = 2_000) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}

function bindError(address: string, error: Error): WasmatrixError {
  return new WasmatrixError(
    ErrorCode.INVALID_REQUEST,
    `cannot listen on ${address}: ${error.message}; is another wasmatrix already running there? pick another with --listen`,
    { address },
  );
}

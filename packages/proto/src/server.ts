import { once } from "node:events";
import {
  type handleServerStreamingCall,
  type handleUnaryCall,
  Server,
  type ServerWritableStream,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";
import { assertListenAllowed, ErrorCode, type Metrics, WasmatrixError } from "@wasmatrix/core";
import { type Logger, silentLogger } from "@wasmatrix/core/logger";
import { admit, type CallContext, callContext, type ServerAccess } from "./access.js";
import { toServiceError } from "./errors.js";
import { type Admission, guardService, statusGuard } from "./guard.js";
import { serverMetricsInterceptor } from "./rpc-metrics.js";
import { serverCredentials, type TlsMaterial } from "./tls.js";

/**
 * Adapts a promise-returning method to a grpc-js unary handler with wasmatrix error metadata.
 * The handler also gets who is calling (certificate, token) and the scope it was admitted with.
 */
export function unary<Req, Res>(
  fn: (request: Req, context: CallContext) => Promise<Res>,
): handleUnaryCall<Req, Res> {
  return (call, callback) => {
    // Returned so that the guard (guard.ts) answers whatever escapes the callback.
    return fn(call.request, callContext(call)).then(
      (response) => callback(null, response),
      (error: unknown) => callback(toServiceError(error)),
    );
  };
}

/** `unary` for handlers that stop work when the caller cancels (or its deadline passes). */
export function cancellableUnary<Req, Res>(
  fn: (request: Req, signal: AbortSignal, context: CallContext) => Promise<Res>,
): handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const abort = new AbortController();
    call.on("cancelled", () => abort.abort());
    return fn(call.request, abort.signal, callContext(call)).then(
      (response) => callback(null, response),
      (error: unknown) => callback(toServiceError(error)),
    );
  };
}

/** Adapts an async iterable to a server stream that honours back-pressure and cancellation. */
export function streaming<Req, Res>(
  fn: (request: Req, signal: AbortSignal, context: CallContext) => AsyncIterable<Res>,
): handleServerStreamingCall<Req, Res> {
  return (call: ServerWritableStream<Req, Res>) => {
    const abort = new AbortController();
    call.on("cancelled", () => abort.abort());
    call.on("close", () => abort.abort());
    const run = async () => {
      try {
        for await (const item of fn(call.request, abort.signal, callContext(call))) {
          if (abort.signal.aborted) break;
          if (!call.write(item)) await once(call, "drain", { signal: abort.signal });
        }
        if (!abort.signal.aborted) call.end();
      } catch (error) {
        // emit, not destroy: a destroyed stream never runs _final, so the status would never be sent.
        if (!abort.signal.aborted) call.emit("error", toServiceError(error));
      }
    };
    // What escapes `run` (a throwing 'error' listener) is the guard's to answer, never the
    // event loop's: an unhandled rejection ends the process.
    return run();
  };
}

export interface RunningServer {
  readonly address: string;
  readonly port: number;
  close(graceMs?: number): Promise<void>;
}

/**
 * Largest request a server reads: the largest module a start may carry (64 MiB, the runtime's
 * `DEFAULT_MAX_MODULE_BYTES`) and 1 MiB for the rest of the request. grpc-js compares the length
 * in a message's 5-byte header with it and answers RESOURCE_EXHAUSTED before reading the body,
 * so an oversized request costs the server nothing.
 */
export const DEFAULT_MAX_RECEIVE_MESSAGE_BYTES = 65 * 1024 * 1024;

export interface GrpcServerOptions {
  /** Where refused sends and INTERNAL answers (bugs) are logged. @default silentLogger */
  logger?: Logger;
  /** @default DEFAULT_MAX_RECEIVE_MESSAGE_BYTES */
  maxReceiveMessageBytes?: number;
  /**
   * Who may call what (access.ts): every call is identified and checked against core's
   * API_RULES before its handler runs. @default none: every call is let through, as on a
   * loopback server without --auth.
   */
  access?: ServerAccess;
  /**
   * Mutual TLS: every client must present a certificate of this CA, and every call passes the
   * identity rules (core identity-rules.ts) after the access rules. Without it the server is
   * plain gRPC, checks no identity, and may listen only on loopback unless `insecure`.
   */
  tls?: TlsMaterial | undefined;
  /** The operator's --insecure: plain gRPC beyond loopback. */
  insecure?: boolean | undefined;
  /** How the listen refusal names this server ("the API", "the node agent"). @default "gRPC" */
  what?: string;
  /** Where each answered call's latency and status go (gRPC server metrics). @default none */
  metrics?: Metrics;
}

/**
 * Binds a gRPC server with the given services; `address` may use port 0 for any free port.
 * Every service is guarded (guard.ts): no request, however malformed, and no handler failure
 * can end the process.
 */
export async function startGrpcServer(
  address: string,
  services: { definition: ServiceDefinition; implementation: UntypedServiceImplementation }[],
  options: GrpcServerOptions = {},
): Promise<RunningServer> {
  assertListenAllowed(options.what ?? "gRPC", address, {
    tls: options.tls !== undefined,
    insecure: options.insecure ?? false,
  });
  const logger = options.logger ?? silentLogger;
  const tls = options.tls !== undefined;
  const access = options.access;
  const admission: Admission | undefined =
    access === undefined && !tls ? undefined : (path, call) => admit({ access, tls }, path, call);
  const server = new Server({
    "grpc.max_receive_message_length": options.maxReceiveMessageBytes ?? DEFAULT_MAX_RECEIVE_MESSAGE_BYTES,
    "grpc.max_send_message_length": 80 * 1024 * 1024,
    interceptors: [
      statusGuard(logger),
      ...(options.metrics === undefined ? [] : [serverMetricsInterceptor(options.metrics)]),
    ],
  });
  for (const { definition, implementation } of services) {
    const guarded = guardService(definition, implementation, logger, admission);
    server.addService(guarded.definition, guarded.implementation);
  }
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(address, serverCredentials(options.tls), (error, boundPort) =>
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

/**
 * grpc-js words a failed bind as `No address added out of total 1 resolved errors: [listen
 * EADDRINUSE: …]`; the system error inside is what a person can act on.
 */
function bindError(address: string, error: Error): WasmatrixError {
  const errno = /\b(EADDRINUSE|EACCES|EADDRNOTAVAIL)\b/.exec(error.message)?.[1];
  const why =
    errno === "EADDRINUSE"
      ? "the address is in use; is another wasmatrix already running there? pick another with --listen"
      : errno === "EACCES"
        ? "permission denied (ports below 1024 need privileges); pick another with --listen"
        : errno === "EADDRNOTAVAIL"
          ? "no interface of this machine has that address; pick another with --listen"
          : `${error.message}; pick another address with --listen`;
  return new WasmatrixError(ErrorCode.INVALID_REQUEST, `cannot listen on ${address}: ${why}`, {
    address,
    ...(errno === undefined ? {} : { errno }),
  });
}

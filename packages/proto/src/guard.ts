import {
  type handleServerStreamingCall,
  type handleUnaryCall,
  type MethodDefinition,
  type ServerErrorResponse,
  ServerInterceptingCall,
  type ServerInterceptor,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceDefinition,
  type sendUnaryData,
  status,
  type UntypedHandleCall,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";
import { ErrorCode, WasmatrixError } from "@wasmatrix/core";
import type { Logger } from "@wasmatrix/core/logger";
import { CODE_METADATA_KEY, statusMessage, toServiceError } from "./errors.js";
import { checkedDeserializer, RefusedRequest } from "./request-decoding.js";

/**
 * What stands between the network and a daemon's handlers, for every service every daemon
 * serves (startGrpcServer applies it): a request that does not decode is refused with
 * INVALID_REQUEST; whatever a handler throws, synchronously or not, becomes a logged INTERNAL
 * answer; and every status is made sendable before grpc-js sees it. grpc-js `encodeURI`s the
 * status message in a place no handler can catch, so one lone surrogate there used to end the
 * whole process — every instance of a node with it.
 */

/** What a client sees when even sending the real answer failed (the log has the rest). */
const SEND_FAILED_MESSAGE = "the server failed while answering; its log has the details";

export interface GuardedService {
  definition: ServiceDefinition;
  implementation: UntypedServiceImplementation;
}

/** The service with checked request decoding and guarded handlers. */
export function guardService(
  definition: ServiceDefinition,
  implementation: UntypedServiceImplementation,
  logger: Logger,
  admit?: Admission,
): GuardedService {
  const guardedDefinition: Record<string, MethodDefinition<unknown, unknown>> = {};
  const guardedImplementation: UntypedServiceImplementation = {};
  for (const [name, method] of Object.entries(definition)) {
    if (method.requestStream) {
      // A RefusedRequest would reach such a handler as a message; none exists yet.
      throw new Error(`${method.path}: client-streaming methods are not guarded; extend guard.ts`);
    }
    guardedDefinition[name] = {
      ...method,
      requestDeserialize: checkedDeserializer(method.path, method.requestDeserialize),
    };
    const handler = implementation[name] ?? implementationByOriginalName(implementation, method);
    if (handler === undefined) continue; // grpc-js answers UNIMPLEMENTED
    guardedImplementation[name] = method.responseStream
      ? guardStream(method.path, handler as handleServerStreamingCall<unknown, unknown>, logger, admit)
      : guardUnary(method.path, handler as handleUnaryCall<unknown, unknown>, logger, admit);
  }
  return { definition: guardedDefinition, implementation: guardedImplementation };
}

/**
 * Decides, before any handler runs, whether this caller may make this call (access.ts: the API
 * token rules, then the mTLS identity rules); it rejects with the refusal. `path` is the gRPC
 * method path.
 */
export type Admission = (path: string, call: ServerUnaryCall<unknown, unknown>) => Promise<void>;

function implementationByOriginalName(
  implementation: UntypedServiceImplementation,
  method: MethodDefinition<unknown, unknown>,
): UntypedHandleCall | undefined {
  return method.originalName === undefined ? undefined : implementation[method.originalName];
}

function guardUnary(
  path: string,
  handler: handleUnaryCall<unknown, unknown>,
  logger: Logger,
  admit: Admission | undefined,
): handleUnaryCall<unknown, unknown> {
  return (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
    let answered = false;
    const answer: sendUnaryData<unknown> = (error, value, trailer, flags) => {
      if (answered) return;
      answered = true;
      if (error) logIfInternal(logger, path, error);
      try {
        callback(error, value, trailer, flags);
      } catch (thrown) {
        logger.error({ err: thrown, rpc: path }, "sending an answer failed");
      }
    };
    const run = () => {
      if (call.request instanceof RefusedRequest) {
        answer(toServiceError(call.request.error));
        return;
      }
      try {
        const result: unknown = handler(call, answer);
        if (isPromise(result)) result.catch((error: unknown) => answer(internal(error)));
      } catch (error) {
        answer(internal(error));
      }
    };
    if (admit === undefined) return run();
    // Who calls is settled before the body is looked at: a caller without credentials learns
    // nothing, not even whether its request decodes. Refusals are answers, not bugs.
    return admit(path, call).then(run, (error: unknown) => answer(toServiceError(error)));
  };
}

function guardStream(
  path: string,
  handler: handleServerStreamingCall<unknown, unknown>,
  logger: Logger,
  admit: Admission | undefined,
): handleServerStreamingCall<unknown, unknown> {
  return (call: ServerWritableStream<unknown, unknown>) => {
    // grpc-js turns an 'error' event into the call's status (server-call.ts); this listener
    // only logs the ones that are bugs.
    call.on("error", (error: ServerErrorResponse) => logIfInternal(logger, path, error));
    const fail = (error: unknown) => {
      try {
        call.emit("error", error);
      } catch (thrown) {
        logger.error({ err: thrown, rpc: path }, "ending a stream with its error failed");
      }
    };
    const run = () => {
      if (call.request instanceof RefusedRequest) {
        fail(toServiceError(call.request.error));
        return;
      }
      try {
        const result: unknown = handler(call);
        if (isPromise(result)) result.catch((error: unknown) => fail(internal(error)));
      } catch (error) {
        fail(internal(error));
      }
    };
    if (admit === undefined) return run();
    return admit(path, call as unknown as ServerUnaryCall<unknown, unknown>).then(run, (error: unknown) =>
      fail(toServiceError(error)),
    );
  };
}

/** A handler's unexpected failure as the INTERNAL answer, keeping the original for the log. */
function internal(error: unknown): Partial<ServerErrorResponse> {
  return toServiceError(
    WasmatrixError.is(error)
      ? error
      : new WasmatrixError(
          ErrorCode.INTERNAL,
          `the server failed: ${error instanceof Error ? error.message : String(error)}`,
          {},
          { cause: error },
        ),
  );
}

function logIfInternal(logger: Logger, rpc: string, error: { code?: number; cause?: unknown }): void {
  if (error.code !== status.INTERNAL) return;
  // toServiceError keeps the WasmatrixError as `cause`, which keeps the foreign error, if any.
  const wrapped = error.cause;
  const original = WasmatrixError.is(wrapped) ? (wrapped.cause ?? wrapped) : (wrapped ?? error);
  logger.error({ err: original, rpc }, "answered INTERNAL: this is a bug");
}

function isPromise(value: unknown): value is Promise<unknown> {
  return typeof (value as Promise<unknown> | undefined)?.then === "function";
}

/**
 * Every status any handler (or grpc-js itself) sends passes here: its message is made
 * well-formed and short enough for the trailers, and a send that still throws is logged and
 * replaced by a plain INTERNAL instead of escaping into the event loop.
 */
export function statusGuard(logger: Logger): ServerInterceptor {
  return (method, call) =>
    new ServerInterceptingCall(call, {
      sendStatus(sent, next) {
        if (sent.code === status.INTERNAL && sent.metadata?.get(CODE_METADATA_KEY).length !== 1) {
          // Not from a wasmatrix handler (those are logged by the guard): grpc-js's own.
          logger.error({ rpc: method.path, message: sent.details }, "grpc-js answered INTERNAL");
        }
        try {
          next({ ...sent, details: statusMessage(sent.details ?? "") });
        } catch (error) {
          logger.error({ err: error, rpc: method.path }, "sending a status failed");
          try {
            next({ code: status.INTERNAL, details: SEND_FAILED_MESSAGE, metadata: null });
          } catch {
            // Nothing more can be said on this call; the client sees its stream reset.
          }
        }
      },
    });
}

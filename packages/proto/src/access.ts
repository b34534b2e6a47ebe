import type { Metadata } from "@grpc/grpc-js";
import {
  type AccessPolicy,
  ANONYMOUS,
  assertIdentity,
  authorizeCall,
  type Caller,
  type CallScope,
  ErrorCode,
  rpcName,
  WasmatrixError,
} from "@wasmatrix/core";
import { callerOf } from "./tls.js";

/**
 * How a server learns who calls and whether they may: `startGrpcServer` runs `identify` and
 * core's `authorizeCall` before any handler, and keeps the answer for the handler to read
 * with `callContext(call)`. With TLS the verified certificate identity is part of the caller,
 * and the identity rules (core identity-rules.ts) are checked after the token rules.
 */
export interface ServerAccess {
  /** Who the call comes from. Throws UNAUTHENTICATED for credentials that do not verify. */
  identify(call: IncomingCall): Promise<Caller>;
  readonly policy: AccessPolicy;
  /** Told of every call refused before its handler (UNAUTHENTICATED, PERMISSION_DENIED): the audit log. */
  refused?(path: string, caller: Caller, error: WasmatrixError): void;
}

export interface IncomingCall {
  readonly path: string;
  readonly metadata: Metadata;
  /** grpc-js's call, for what metadata does not carry (the peer certificate). */
  readonly call: object;
}

/** What a handler knows about its call once it is let through. */
export interface CallContext {
  readonly caller: Caller;
  readonly scope: CallScope;
}

export const OPEN_CONTEXT: CallContext = Object.freeze({ caller: ANONYMOUS, scope: {} });

const contexts = new WeakMap<object, CallContext>();

/** The caller and scope the guard admitted `call` with; an open context on a server without access control. */
export function callContext(call: object): CallContext {
  return contexts.get(call) ?? OPEN_CONTEXT;
}

/** What a server checks before its handlers run; `startGrpcServer` builds it from its options. */
export interface AdmissionOptions {
  access?: ServerAccess | undefined;
  /** The server runs mTLS: the caller includes its certificate and the identity rules apply. */
  tls: boolean;
}

/**
 * The one admission path of every server: who calls (certificate, token), whether their token
 * or certificate kind may call this RPC (core api-access.ts), and, over mTLS, whether their
 * certificate may speak for what the request names (core identity-rules.ts).
 */
export async function admit(
  options: AdmissionOptions,
  path: string,
  call: { metadata: Metadata; request: unknown },
): Promise<void> {
  const transport = options.tls ? callerOf(call as unknown as Parameters<typeof callerOf>[0]) : ANONYMOUS;
  const access = options.access;
  let caller: Caller = transport;
  let scope: CallScope = {};
  try {
    if (access !== undefined) {
      caller = { ...transport, ...(await access.identify({ path, metadata: call.metadata, call })) };
      scope = authorizeCall(path, caller, access.policy);
    }
    if (options.tls) assertIdentity(rpcName(path), caller.certificate, call.request);
  } catch (error) {
    if (WasmatrixError.is(error)) access?.refused?.(path, caller, error);
    throw error;
  }
  contexts.set(call, { caller, scope });
}

export const AUTHORIZATION_METADATA_KEY = "authorization";

/** The token of an `authorization: Bearer <token>` header; undefined when there is none. */
export function bearerToken(metadata: Metadata): string | undefined {
  const values = metadata.get(AUTHORIZATION_METADATA_KEY);
  if (values.length === 0) return undefined;
  const value = values[0];
  const match = typeof value === "string" ? /^Bearer\s+(\S+)\s*$/i.exec(value) : null;
  if (values.length > 1 || match === null) {
    throw new WasmatrixError(
      ErrorCode.UNAUTHENTICATED,
      "the authorization metadata must be one 'Bearer <token>' value",
      {},
    );
  }
  return match[1];
}

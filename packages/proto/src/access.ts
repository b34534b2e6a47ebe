import type { Metadata } from "@grpc/grpc-js";
import {
  type AccessPolicy,
  ANONYMOUS,
  authorizeCall,
  type Caller,
  type CallScope,
  ErrorCode,
  WasmatrixError,
} from "@wasmatrix/core";

/**
 * How a server learns who calls and whether they may: `startGrpcServer` runs `identify` and
 * core's `authorizeCall` before any handler, and keeps the answer for the handler to read
 * with `callContext(call)`. The TLS layer adds the certificate identity inside `identify`.
 */
export interface ServerAccess {
  /** Who the call comes from. Throws UNAUTHENTICATED for credentials that do not verify. */
  identify(call: IncomingCall): Promise<Caller>;
  readonly policy: AccessPolicy;
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

export async function admit(access: ServerAccess, path: string, call: { metadata: Metadata }): Promise<void> {
  const caller = await access.identify({ path, metadata: call.metadata, call });
  const scope = authorizeCall(path, caller, access.policy);
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

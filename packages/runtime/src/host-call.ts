import type { HostCallRequest } from "./guest/wapc.js";

export type { HostCallAnswer, HostCallRequest } from "./guest/wapc.js";

/**
 * Serves the capability calls that workers forward to the main thread (async I/O: HTTP, NATS,
 * remote providers). The node agent supplies one that checks assignments and permissions.
 * Throw (or reject with) a WasmatrixError to hand the guest an error.
 */
export interface HostCallRouter {
  call(instanceId: string, request: HostCallRequest): Promise<Uint8Array>;
}

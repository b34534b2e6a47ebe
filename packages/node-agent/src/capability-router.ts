import {
  type CapabilityAssignment,
  type CapabilityKind,
  ErrorCode,
  formatPermission,
  isAllowed,
  type PermissionRequest,
  WasmatrixError,
} from "@wasmatrix/core";
import type { CapabilityProvider } from "@wasmatrix/providers";
import type { HostCallRequest, HostCallRouter } from "@wasmatrix/runtime";

/** What the router needs to know about an instance at the moment of a call. */
export interface RoutingState {
  readonly assignments: readonly CapabilityAssignment[];
  readonly counters: CallCounters;
  /** Absolute time (ms since epoch) by which the guest's current run or invocation must end. */
  readonly deadline: () => number;
}

export interface CallCounters {
  hostCalls: number;
  denied: number;
  failed: number;
}

export const DEFAULT_BINDING = "default";

const NAMESPACE_PREFIX = "wasmatrix:";

/** `wasmatrix:keyvalue` → `keyvalue`; anything else is not a capability we know. */
function capabilityOf(namespace: string): CapabilityKind | null {
  if (!namespace.startsWith(NAMESPACE_PREFIX)) return null;
  const kind = namespace.slice(NAMESPACE_PREFIX.length);
  return kind === "keyvalue" || kind === "http" || kind === "messaging" || kind === "logging" ? kind : null;
}

/**
 * Keyvalue data of an assignment lives in a scope: the `default` binding is private to the
 * instance (and survives its restarts, which keep the id); a named binding is shared by every
 * instance assigned that binding. Nothing else can name a scope, so instances without a shared
 * assignment never see each other's keys.
 */
export function scopeOf(instanceId: string, assignment: CapabilityAssignment): string {
  return assignment.binding === DEFAULT_BINDING ? `instance/${instanceId}` : `binding/${assignment.binding}`;
}

/**
 * Entry point of every capability call a guest makes: it finds the assignment for the call's
 * capability and binding, checks the permission the operation needs, and only then lets the
 * provider see the call. Refusals are errors handed back to the guest, never crashes.
 */
export class CapabilityRouter implements HostCallRouter {
  constructor(
    private readonly lookup: (instanceId: string) => RoutingState | undefined,
    /** The provider serving an assignment: local, or a provider process. */
    private readonly providerFor: (assignment: CapabilityAssignment) => CapabilityProvider | undefined,
  ) {}

  async call(instanceId: string, request: HostCallRequest): Promise<Uint8Array> {
    const state = this.lookup(instanceId);
    if (state === undefined) {
      throw new WasmatrixError(ErrorCode.INSTANCE_NOT_FOUND, `instance '${instanceId}' is not managed here`, {
        instanceId,
      });
    }
    state.counters.hostCalls++;
    try {
      const { assignment, provider } = this.authorize(instanceId, state, request);
      return await provider.handle({
        instanceId,
        binding: assignment.binding,
        operation: request.operation,
        payload: request.payload,
        scope: scopeOf(instanceId, assignment),
        permissions: assignment.permissions,
        remainingMs: Math.max(1, state.deadline() - Date.now()),
      });
    } catch (error) {
      const wrapped = WasmatrixError.from(error);
      if (
        wrapped.code === ErrorCode.PERMISSION_DENIED ||
        wrapped.code === ErrorCode.CAPABILITY_NOT_ASSIGNED
      ) {
        state.counters.denied++;
      } else {
        state.counters.failed++;
      }
      throw wrapped;
    }
  }

  private authorize(
    instanceId: string,
    state: RoutingState,
    request: HostCallRequest,
  ): { assignment: CapabilityAssignment; provider: CapabilityProvider } {
    const capability = capabilityOf(request.namespace);
    const binding = request.binding === "" ? DEFAULT_BINDING : request.binding;
    if (capability === null) {
      throw new WasmatrixError(
        ErrorCode.CAPABILITY_NOT_ASSIGNED,
        `unknown capability namespace '${request.namespace}'; capabilities are wasmatrix:keyvalue, wasmatrix:http, wasmatrix:messaging, wasmatrix:logging`,
        { namespace: request.namespace, instanceId },
      );
    }
    const assignment = state.assignments.find((a) => a.capability === capability && a.binding === binding);
    if (assignment === undefined) {
      throw new WasmatrixError(
        ErrorCode.CAPABILITY_NOT_ASSIGNED,
        `instance '${instanceId}' has no '${capability}' assignment with binding '${binding}'; assign one with: wasmatrix caps assign ${instanceId} ${capability}=<permissions>`,
        { capability, binding, instanceId },
      );
    }
    const provider = this.providerFor(assignment);
    if (provider === undefined) {
      throw new WasmatrixError(
        ErrorCode.PROVIDER_UNAVAILABLE,
        assignment.provider === "local"
          ? `no provider for '${capability}' runs on this node, and no provider process serves it`
          : `provider '${assignment.provider}' is not registered with the control plane, or not alive`,
        { capability, provider: assignment.provider },
      );
    }
    const needed: PermissionRequest = provider.required(request.operation, request.payload);
    if (!isAllowed(assignment.permissions, needed)) {
      throw new WasmatrixError(
        ErrorCode.PERMISSION_DENIED,
        `instance '${instanceId}' may not ${describe(needed)}; its '${capability}' grants are: ${assignment.permissions.map(formatPermission).join(", ") || "none"}`,
        { capability, binding, operation: request.operation, instanceId },
      );
    }
    return { assignment, provider };
  }
}

function describe(request: PermissionRequest): string {
  switch (request.kind) {
    case "kv":
      return `kv:${request.action}`;
    case "http":
      return `make HTTP requests to ${request.host}`;
    case "msg":
      return `msg:${request.action}:${request.subject}`;
  }
}

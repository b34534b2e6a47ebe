import {
  authorizeRequest,
  type CapabilityAssignment,
  DEFAULT_BINDING,
  DEFAULT_TENANT,
  ErrorCode,
  LOCAL_PROVIDER,
  type Metrics,
  noopMetrics,
  resolveAssignment,
  tenantScope,
  WasmatrixError,
} from "@wasmatrix/core";
import type { CapabilityProvider } from "@wasmatrix/providers";
import type { HostCallRequest, HostCallRouter } from "@wasmatrix/runtime";

/** What the router needs to know about an instance at the moment of a call. */
export interface RoutingState {
  readonly assignments: readonly CapabilityAssignment[];
  readonly counters: CallCounters;
  /** @default DEFAULT_TENANT */
  readonly tenant?: string;
  /** Absolute time (ms since epoch) by which the guest's current run or invocation must end. */
  readonly deadline: () => number;
}

export interface CallCounters {
  hostCalls: number;
  denied: number;
  failed: number;
}

/**
 * Keyvalue data of an assignment lives in a scope: the `default` binding is private to the
 * instance (and survives its restarts, which keep the id); a named binding is shared by every
 * instance assigned that binding. Nothing else can name a scope, so instances without a shared
 * assignment never see each other's keys. A tenant's scopes sit under its own prefix
 * (core's `tenantScope`), so a named binding is shared within a tenant only.
 */
export function scopeOf(
  instanceId: string,
  assignment: CapabilityAssignment,
  tenant: string = DEFAULT_TENANT,
): string {
  const scope =
    assignment.binding === DEFAULT_BINDING ? `instance/${instanceId}` : `binding/${assignment.binding}`;
  return tenantScope(tenant, scope);
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
    private readonly metrics: Metrics = noopMetrics,
  ) {}

  async call(instanceId: string, request: HostCallRequest): Promise<Uint8Array> {
    const state = this.lookup(instanceId);
    if (state === undefined) {
      throw new WasmatrixError(ErrorCode.INSTANCE_NOT_FOUND, `instance '${instanceId}' is not managed here`, {
        instanceId,
      });
    }
    state.counters.hostCalls++;
    const began = performance.now();
    // Only a resolved assignment names the capability: a guest's namespace is any string it likes.
    let capability = "unassigned";
    try {
      const { assignment, provider } = this.authorize(instanceId, state, request);
      capability = assignment.capability;
      const answer = await provider.handle({
        instanceId,
        binding: assignment.binding,
        operation: request.operation,
        payload: request.payload,
        scope: scopeOf(instanceId, assignment, state.tenant),
        tenant: state.tenant ?? DEFAULT_TENANT,
        permissions: assignment.permissions,
        remainingMs: Math.max(1, state.deadline() - Date.now()),
      });
      this.metrics.hostCall(capability, "ok", (performance.now() - began) / 1000);
      return answer;
    } catch (error) {
      const wrapped = WasmatrixError.from(error);
      const denied =
        wrapped.code === ErrorCode.PERMISSION_DENIED || wrapped.code === ErrorCode.CAPABILITY_NOT_ASSIGNED;
      if (denied) state.counters.denied++;
      else state.counters.failed++;
      this.metrics.hostCall(capability, denied ? "denied" : "failed", (performance.now() - began) / 1000);
      throw wrapped;
    }
  }

  private authorize(
    instanceId: string,
    state: RoutingState,
    request: HostCallRequest,
  ): { assignment: CapabilityAssignment; provider: CapabilityProvider } {
    const assignment = resolveAssignment(state.assignments, {
      namespace: request.namespace,
      binding: request.binding,
      instanceId,
    });
    const provider = this.providerFor(assignment);
    if (provider === undefined) {
      throw new WasmatrixError(
        ErrorCode.PROVIDER_UNAVAILABLE,
        assignment.provider === LOCAL_PROVIDER
          ? `no provider for '${assignment.capability}' runs on this node, and no provider process serves it`
          : `provider '${assignment.provider}' is not registered with the control plane, or not alive`,
        { capability: assignment.capability, provider: assignment.provider },
      );
    }
    authorizeRequest(assignment, provider.required(request.operation, request.payload), { instanceId });
    return { assignment, provider };
  }
}

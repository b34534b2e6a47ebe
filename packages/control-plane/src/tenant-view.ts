import { DEFAULT_TENANT, ErrorCode, tenantOf, WasmatrixError } from "@wasmatrix/core";
import type * as pb from "@wasmatrix/proto";
import type { CallContext, ControlPlaneApi } from "@wasmatrix/proto";
import { instanceNotFound } from "./node-table.js";

/** The tenant of an instance the control plane knows, or undefined for an unknown id. */
export type TenantLookup = (instanceId: string) => string | undefined;

/**
 * The API as one call's caller may see it. A tenant token's call (scope.tenant set) acts on its
 * tenant's instances only: listings and events are filtered, another tenant's instance is
 * answered exactly like an unknown id, and what it starts belongs to its tenant. Every caller's
 * facts carry the tenant of their instance.
 */
export class TenantView {
  constructor(
    private readonly api: ControlPlaneApi,
    private readonly tenantOfInstance: TenantLookup,
  ) {}

  async startInstance(request: pb.StartInstanceRequest, context: CallContext): Promise<pb.Instance> {
    const scoped = context.scope.tenant;
    const asked = request.tenant === "" ? undefined : tenantOf(request.tenant);
    if (asked !== undefined && asked !== (scoped ?? asked)) {
      throw new WasmatrixError(
        ErrorCode.PERMISSION_DENIED,
        `a token of tenant '${scoped}' starts instances in its own tenant only; drop --tenant`,
        { tenant: asked },
      );
    }
    if (
      asked !== undefined &&
      scoped === undefined &&
      context.caller.token !== undefined &&
      context.caller.token.role !== "admin"
    ) {
      throw new WasmatrixError(
        ErrorCode.PERMISSION_DENIED,
        `only an admin token picks an instance's tenant with --tenant; a ${context.caller.token.role} token's instances go to '${DEFAULT_TENANT}'`,
        { tenant: asked },
      );
    }
    const tenant = scoped ?? asked ?? DEFAULT_TENANT;
    if (scoped !== undefined && request.instanceId !== "") {
      const owner = this.tenantOfInstance(request.instanceId);
      // Ids are cluster-wide; another tenant's reads as taken, without saying whose it is.
      if (owner !== undefined && owner !== scoped) {
        throw new WasmatrixError(
          ErrorCode.ALREADY_EXISTS,
          `the id '${request.instanceId}' is taken; pick another id`,
          { instanceId: request.instanceId },
        );
      }
    }
    return this.api.startInstance({ ...request, tenant }, context.caller);
  }

  async stopInstance(request: pb.StopInstanceRequest, context: CallContext): Promise<pb.Instance> {
    this.ensureVisible(request.instanceId, context);
    return this.api.stopInstance(request, context.caller);
  }

  async queryInstance(
    request: pb.QueryInstanceRequest,
    context: CallContext,
  ): Promise<pb.QueryInstanceResponse> {
    this.ensureVisible(request.instanceId, context);
    const answer = await this.api.queryInstance(request);
    return { ...answer, recentFacts: answer.recentFacts.map((f) => this.withTenant(f)) };
  }

  async listInstances(
    request: pb.ListInstancesRequest,
    context: CallContext,
  ): Promise<pb.ListInstancesResponse> {
    const answer = await this.api.listInstances(request);
    const tenant = context.scope.tenant;
    if (tenant === undefined) return answer;
    return { instances: answer.instances.filter((i) => tenantOf(i.tenant) === tenant) };
  }

  async invoke(
    request: pb.InvokeRequest,
    context: CallContext,
    signal?: AbortSignal,
  ): Promise<pb.InvokeResponse> {
    this.ensureVisible(request.instanceId, context);
    return this.api.invoke(request, signal);
  }

  async assignCapability(request: pb.AssignCapabilityRequest, context: CallContext): Promise<pb.Instance> {
    this.ensureVisible(request.instanceId, context);
    return this.api.assignCapability(request, context.caller);
  }

  async revokeCapability(request: pb.RevokeCapabilityRequest, context: CallContext): Promise<pb.Instance> {
    this.ensureVisible(request.instanceId, context);
    return this.api.revokeCapability(request, context.caller);
  }

  async *watchEvents(
    request: pb.WatchEventsRequest,
    signal: AbortSignal,
    context: CallContext,
  ): AsyncIterable<pb.Fact> {
    if (request.instanceId !== "") this.ensureVisible(request.instanceId, context);
    const tenant = context.scope.tenant;
    for await (const fact of this.api.watchEvents(request, signal)) {
      const withTenant = this.withTenant(fact);
      // Node facts name no tenant's instance: cluster business, not a tenant's.
      if (tenant === undefined || (fact.instanceId !== "" && withTenant.tenant === tenant)) yield withTenant;
    }
  }

  streamLogs(
    request: pb.StreamLogsRequest,
    signal: AbortSignal,
    context: CallContext,
  ): AsyncIterable<pb.LogLine> {
    this.ensureVisible(request.instanceId, context);
    return this.api.streamLogs(request, signal);
  }

  private ensureVisible(instanceId: string, context: CallContext): void {
    const tenant = context.scope.tenant;
    if (tenant === undefined) return;
    if (this.tenantOfInstance(instanceId) !== tenant) throw instanceNotFound(instanceId);
  }

  private withTenant(fact: pb.Fact): pb.Fact {
    if (fact.instanceId === "") return fact;
    const tenant = this.tenantOfInstance(fact.instanceId);
    return tenant === undefined ? fact : { ...fact, tenant };
  }
}

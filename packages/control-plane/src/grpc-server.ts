import type { UntypedServiceImplementation } from "@grpc/grpc-js";
import { ErrorCode, type Role, WasmatrixError } from "@wasmatrix/core";
import type * as pb from "@wasmatrix/proto";
import type { CallContext } from "@wasmatrix/proto";
import { cancellableUnary, streaming, unary } from "@wasmatrix/proto";
import type { Audit } from "./audit-log.js";
import { type TenantLookup, TenantView } from "./tenant-view.js";
import type { TokenAuthority, TokenRecord } from "./tokens/token-authority.js";

export interface ControlPlaneHooks {
  registerNode?(request: pb.RegisterNodeRequest, context?: CallContext): Promise<pb.RegisterNodeResponse>;
  reportStatus?(request: pb.ReportStatusRequest): Promise<pb.ReportStatusResponse>;
  deregisterNode?(request: pb.DeregisterNodeRequest, context?: CallContext): Promise<pb.Empty>;
  registerProvider?(request: pb.RegisterProviderRequest): Promise<pb.Empty>;
  listProviders?(): Promise<pb.ListProvidersResponse>;
  /** Whose instance an id names, for tenant tokens; without it every instance is "default"'s. */
  tenantOfInstance?: TenantLookup;
  /** Where token changes are recorded (the control plane's audit log). */
  audit?: Audit;
  /** Issues, lists and revokes API tokens; without it (no --auth) the token RPCs are refused. */
  tokens?: TokenAuthority;
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
  const view = new TenantView(api, hooks.tenantOfInstance ?? (() => "default"));
  const tokens = (): TokenAuthority => {
    if (hooks.tokens !== undefined) return hooks.tokens;
    throw new WasmatrixError(
      ErrorCode.FAILED_PRECONDITION,
      "this server runs without --auth: it neither needs nor issues API tokens; start it with --auth",
    );
  };
  // Token changes are control actions: recorded with who made them, like starts and stops.
  const audited = async <T>(
    context: CallContext,
    action: string,
    target: string,
    run: () => Promise<T>,
    details: (answer: T) => Record<string, unknown> = () => ({}),
  ): Promise<T> => {
    const entry = { caller: context.caller, action, target };
    let answer: T;
    try {
      answer = await run();
    } catch (error) {
      const failure = WasmatrixError.from(error);
      await hooks.audit
        ?.append({ ...entry, outcome: "refused", details: { code: failure.code, message: failure.message } })
        .catch(() => undefined);
      throw error;
    }
    await hooks.audit?.append({ ...entry, outcome: "ok", details: details(answer) });
    return answer;
  };
  const handlers: pb.ControlPlaneServer = {
    startInstance: unary((r, c) => view.startInstance(r, c)),
    stopInstance: unary((r, c) => view.stopInstance(r, c)),
    queryInstance: unary((r, c) => view.queryInstance(r, c)),
    listInstances: unary((r, c) => view.listInstances(r, c)),
    invoke: cancellableUnary((r, signal, c) => view.invoke(r, c, signal)),
    assignCapability: unary((r, c) => view.assignCapability(r, c)),
    revokeCapability: unary((r, c) => view.revokeCapability(r, c)),
    listNodes: unary(() => api.listNodes()),
    serverInfo: unary(() => api.serverInfo()),
    recordDeployment: unary((r) => api.recordDeployment(r)),
    addTrigger: unary((r) => api.addTrigger(r)),
    removeTrigger: unary((r) => api.removeTrigger(r)),
    listTriggers: unary(() => api.listTriggers()),
    addRoute: unary((r) => api.addRoute(r)),
    removeRoute: unary((r) => api.removeRoute(r)),
    listRoutes: unary(() => api.listRoutes()),
    readAudit: unary((r) => api.readAudit(r)),
    watchEvents: streaming((r, signal, c) => view.watchEvents(r, signal, c)),
    streamLogs: streaming((r, signal, c) => view.streamLogs(r, signal, c)),
    registerNode: unary(hooks.registerNode ?? notHere("RegisterNode")),
    reportStatus: unary(hooks.reportStatus ?? notHere("ReportStatus")),
    deregisterNode: unary(hooks.deregisterNode ?? notHere("DeregisterNode")),
    registerProvider: unary(hooks.registerProvider ?? notHere("RegisterProvider")),
    listProviders: unary(hooks.listProviders ?? (async () => ({ providers: [] }))),
    createToken: unary((r: pb.CreateTokenRequest, c) =>
      audited(
        c,
        "token.create",
        r.tenant,
        async () => {
          const issued = await tokens().issue({
            role: r.role as Role,
            ...(r.tenant === "" ? {} : { tenant: r.tenant }),
            ...(r.expiresInMs === 0 ? {} : { expiresInMs: r.expiresInMs }),
          });
          // The token itself never reaches the log: its id, role and tenant do.
          return { token: issued.token, info: tokenInfo({ ...issued.record, revoked: false }) };
        },
        (answer) => ({ tokenId: answer.info?.tokenId, role: r.role }),
      ),
    ),
    listTokens: unary(async () => ({ tokens: (await tokens().list()).map(tokenInfo) })),
    revokeToken: unary((r: pb.RevokeTokenRequest, c) =>
      audited(c, "token.revoke", r.tokenId, async () => tokenInfo(await tokens().revoke(r.tokenId))),
    ),
  };
  return handlers as unknown as UntypedServiceImplementation;
}

function tokenInfo(record: TokenRecord & { revoked: boolean }): pb.TokenInfo {
  return {
    tokenId: record.tokenId,
    role: record.role,
    tenant: record.tenant ?? "",
    expiresAtMs: record.expiresAt ?? 0,
    createdAtMs: record.createdAt,
    revoked: record.revoked,
  };
}

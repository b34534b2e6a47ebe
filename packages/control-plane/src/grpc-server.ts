import type { UntypedServiceImplementation } from "@grpc/grpc-js";
import { ErrorCode, WasmatrixError } from "@wasmatrix/core";
import type * as pb from "@wasmatrix/proto";
import { cancellableUnary, streaming, unary } from "@wasmatrix/proto";

export interface ControlPlaneHooks {
  registerNode?(request: pb.RegisterNodeRequest): Promise<pb.RegisterNodeResponse>;
  reportStatus?(request: pb.ReportStatusRequest): Promise<pb.ReportStatusResponse>;
  deregisterNode?(request: pb.DeregisterNodeRequest): Promise<pb.Empty>;
  registerProvider?(request: pb.RegisterProviderRequest): Promise<pb.Empty>;
  listProviders?(): Promise<pb.ListProvidersResponse>;
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
    invoke: cancellableUnary((r, signal) => api.invoke(r, signal)),
    assignCapability: unary((r) => api.assignCapability(r)),
    revokeCapability: unary((r) => api.revokeCapability(r)),
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
    watchEvents: streaming((r, signal) => api.watchEvents(r, signal)),
    streamLogs: streaming((r, signal) => api.streamLogs(r, signal)),
    registerNode: unary(hooks.registerNode ?? notHere("RegisterNode")),
    reportStatus: unary(hooks.reportStatus ?? notHere("ReportStatus")),
    deregisterNode: unary(hooks.deregisterNode ?? notHere("DeregisterNode")),
    registerProvider: unary(hooks.registerProvider ?? notHere("RegisterProvider")),
    listProviders: unary(hooks.listProviders ?? (async () => ({ providers: [] }))),
  };
  return handlers as unknown as UntypedServiceImplementation;
}

import type { UntypedServiceImplementation } from "@grpc/grpc-js";
import * as pb from "@wasmatrix/proto";
import { cancellableUnary, type NodeFactsApi, streaming, unary } from "@wasmatrix/proto";

/** The NodeAgent gRPC service over any implementation of the node API. */
export function nodeAgentService(api: pb.NodeAgentApi & NodeFactsApi): UntypedServiceImplementation {
  const handlers: pb.NodeAgentServer = {
    startInstance: unary((r) => api.startInstance(r)),
    stopInstance: unary((r) => api.stopInstance(r)),
    queryStatus: unary((r) => api.queryStatus(r)),
    invoke: cancellableUnary((r, signal) => api.invoke(r, signal)),
    listInstances: unary((r) => api.listInstances(r)),
    setAssignments: unary((r) => api.setAssignments(r)),
    nodeInfo: unary(() => api.nodeInfo()),
    listFacts: unary((r) => api.listFacts(r)),
    streamLogs: streaming((r, signal) => api.streamLogs(r, signal)),
  };
  return handlers as unknown as UntypedServiceImplementation;
}

export const NodeAgentServiceDefinition: typeof pb.NodeAgentService = pb.NodeAgentService;

import type { Caller, Fact } from "@wasmatrix/core";
import type * as pb from "@wasmatrix/proto";
import type { NodeApi } from "./node-table.js";

/**
 * One way the control plane hears of nodes: in process, a static list it polls, registrations
 * over gRPC, or etcd. Every source feeds the same node table through a `NodeSink`, so a node's
 * state means the same whichever way it arrived.
 */
export interface NodeSource {
  /** Begins feeding the sink (registering what is there already, then following changes). */
  start(): void | Promise<void>;
  /** Stops feeding it; the nodes stay in the table. */
  close(): void | Promise<void>;
}

/** What a node source tells the control plane (ControlPlane implements it). */
export interface NodeSink {
  /** A node joins, or rejoins; `local` marks one that runs in the control plane's own process. */
  /** `caller`: who registered it, for the audit log. */
  registerNode(node: pb.Node, api: NodeApi, options?: { local?: boolean; caller?: Caller }): void;
  /** A node's instance table, whole or only what changed; false for a node to register again. */
  reportStatus(nodeId: string, instances: pb.Instance[], options?: { partial?: boolean }): boolean;
  /** One instance changed on a node. */
  reportInstance(instance: pb.Instance): void;
  deregisterNode(nodeId: string, caller?: Caller): void;
  nodeLost(nodeId: string): Promise<void>;
  recordFacts(facts: Iterable<Fact>): void;
  recordProtoFacts(facts: pb.Fact[]): void;
  listInstances(request: pb.ListInstancesRequest): Promise<pb.ListInstancesResponse>;
}

export * from "./audit-log.js";
export * from "./control-plane.js";
export { EtcdNodes, type EtcdSink } from "./etcd-nodes.js";
export { EtcdRouteStore } from "./etcd-route-store.js";
export { type FailoverPlan, planFailover, restartsElsewhere } from "./failover.js";
export * from "./grpc-server.js";
export { type LocalNode, LocalNodeSource } from "./local-node.js";
export { NodePoller } from "./node-poller.js";
export type { NodeSink, NodeSource } from "./node-source.js";
export { type NodeApi, type NodeEntry, NodeTable, type ReportOutcome } from "./node-table.js";
export * from "./options.js";
export * from "./placement.js";
export { RegisteredNodes, type RegistrationSink } from "./registered-nodes.js";
export {
  FileRouteStore,
  MemoryRouteStore,
  type RouteStore,
  type RouteStoreHandlers,
  RouteTable,
} from "./route-table.js";
export { ModuleSignatures } from "./signatures.js";
export { StaticNodes } from "./static-nodes.js";
export { type TenantLookup, TenantView } from "./tenant-view.js";
export * from "./tokens/index.js";
export type { Clock } from "./triggers/clock.js";
export { systemClock } from "./triggers/clock.js";
export { type CronSchedule, parseCron } from "./triggers/cron.js";
export { EtcdTriggerStore, etcdTickClaims } from "./triggers/etcd.js";
export type {
  QueueCounters,
  QueueInvoke,
  QueueTrigger,
  QueueTriggerHost,
  QueueTriggerHostFactory,
} from "./triggers/queue-host.js";
export {
  MemoryTriggerStore,
  type TriggerStore,
  type TriggerStoreHandlers,
  triggerExists,
} from "./triggers/store.js";
export { soleOwner, type TickClaims } from "./triggers/tick-claims.js";
export { Triggers, type TriggersOptions } from "./triggers/triggers.js";

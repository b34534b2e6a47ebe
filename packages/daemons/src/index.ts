export * from "./control-plane-daemon.js";
export { EtcdRevocations } from "./etcd-revocations.js";
export * from "./metrics/metrics-server.js";
export * from "./metrics/prom-metrics.js";
export * from "./node-agent-daemon.js";
export * from "./provider-daemon.js";

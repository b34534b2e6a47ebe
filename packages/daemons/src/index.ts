export * from "./control-plane-daemon.js";
export { EtcdRevocations } from "./etcd-revocations.js";
export * from "./node-agent-daemon.js";
export * from "./provider-daemon.js";

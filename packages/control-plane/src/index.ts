export * from "./control-plane.js";
export { EtcdNodes } from "./etcd-nodes.js";
export * from "./grpc-server.js";
export { NodePoller } from "./node-poller.js";
export * from "./placement.js";

export * from "./control-plane.js";
export * from "./daemon.js";
export * from "./grpc-server.js";
export * from "./placement.js";

export * from "./agent.js";
export { CapabilityRouter, scopeOf } from "./capability-router.js";
export * from "./convert.js";
export { DEFAULT_INSTANCE_QUOTA, instanceDirectory, tenantOf } from "./filesystem.js";
export { nodeAgentService } from "./grpc-service.js";
export { LocalNodeApi } from "./local-api.js";
export type { LogLine, LogStream } from "./logs.js";
export type { InstanceView } from "./managed-instance.js";
export { followed } from "./stream.js";

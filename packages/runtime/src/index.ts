export * from "./cache/index.js";
export * from "./capacity.js";
export {
  DEFAULT_MAX_VAR_BYTES,
  EXTISM_MODULE,
  type ExtismConfig,
} from "./guest/extism.js";
export type { InstanceKind } from "./guest/instance.js";
export type { HostCallAnswer, HostCallRequest, HostCallRouter } from "./host-call.js";
export { instrument, type ModuleInfo } from "./instrument/index.js";
export * from "./intake.js";
export * from "./limits.js";
export * from "./outcome.js";
export { DEFAULT_NODE_OUTPUT_BYTES, OutputBudget, OutputRing } from "./output/index.js";
export * from "./runtime.js";
export type { FilesystemQuota, Preopen } from "./wasi/index.js";
export {
  type BuiltinRouterContext,
  LOGGING_NAMESPACE,
  type RoutedInstance,
  type WorkerRouter,
} from "./worker/router.js";

export * from "./defaults.js";
export * from "./http.js";
export * from "./jetstream-keyvalue.js";
export { DEFAULT_FETCH_EXPIRES_MS, type DurableSink } from "./jetstream-pull.js";
export * from "./keyvalue.js";
export * from "./memory-bus.js";
export * from "./message-stream.js";
export * from "./messaging.js";
export * from "./nats-errors.js";
export * from "./nats-link.js";
export * from "./nats-names.js";
export type { CapabilityProvider, ProviderCall } from "./provider.js";
export * from "./required.js";
export {
  DEFAULT_ACK_WAIT_MS,
  DEFAULT_INACTIVE_THRESHOLD_MS,
  DEFAULT_MAX_ACK_PENDING,
  DEFAULT_MESSAGE_STREAM,
  DEFAULT_STREAM_MAX_BYTES,
  type DurableSubscriptionSpec,
  type MessageStreamOptions,
} from "./stream-admin.js";
export { coverSubjects, subjectsOverlap } from "./subject-cover.js";

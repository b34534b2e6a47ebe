export * from "./http.js";
export * from "./keyvalue.js";
export type { CapabilityProvider, ProviderCall } from "./provider.js";

export { leaseTtlSeconds, parseEndpoints } from "./endpoints.js";
export {
  ALLOWED_PREFIXES,
  assertAllowedKey,
  KEY_ROOT,
  type KeyKind,
  NODES_PREFIX,
  nodeKey,
  type ParsedKey,
  PROVIDERS_PREFIX,
  parseKey,
  providerKey,
  REVOCATIONS_PREFIX,
  ROUTES_PREFIX,
  revocationKey,
  routeKey,
  TICKS_PREFIX,
  TRIGGERS_PREFIX,
  tickKey,
  triggerKey,
} from "./keys.js";
export { MIN_LEASE_TTL_SECONDS } from "./leased-record.js";
export {
  DEFAULT_CALL_TIMEOUT_MS,
  DEFAULT_NODE_TTL_SECONDS,
  DEFAULT_PROVIDER_TTL_SECONDS,
  DEFAULT_TICK_TTL_SECONDS,
  EtcdMetadata,
  type EtcdMetadataOptions,
  type LeaseOptions,
  MAX_ROUTE_RECORD_BYTES,
  MAX_TRIGGER_RECORD_BYTES,
  type MetadataWatch,
  type NodeRegistration,
  type Registration,
} from "./metadata.js";
export type { PrefixWatchHandlers } from "./prefix-watch.js";
export {
  decodeNodeRecord,
  decodeProviderRecord,
  encodeNodeRecord,
  encodeProviderRecord,
  MAX_RECORD_BYTES,
  NODE_RECORD_FIELDS,
  type NodeRecord,
  validateNodeRecord,
} from "./records.js";

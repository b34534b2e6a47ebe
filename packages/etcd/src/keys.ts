import {
  ErrorCode,
  NodeId,
  ProviderId,
  parseRouteName,
  TriggerName,
  truncate,
  WasmatrixError,
} from "@wasmatrix/core";

/**
 * The only keys wasmatrix writes to etcd: one per node and one per provider, each under a lease;
 * one per trigger definition (docs/triggers.md), one per HTTP route (docs/gateway.md), one per
 * claimed cron tick, under a short lease;
 * and one per revoked API token id (no lease: a revocation is for good). Instance state, logs,
 * facts and desired state have no key here, and `assertAllowedKey` is the one door
 * every write goes through, so they cannot get one by accident.
 */

export const KEY_ROOT = "/wasmatrix/v1/";
export const NODES_PREFIX = `${KEY_ROOT}nodes/`;
export const PROVIDERS_PREFIX = `${KEY_ROOT}providers/`;
export const TRIGGERS_PREFIX = `${KEY_ROOT}triggers/`;
export const TICKS_PREFIX = `${KEY_ROOT}ticks/`;
export const ROUTES_PREFIX = `${KEY_ROOT}routes/`;
export const REVOCATIONS_PREFIX = `${KEY_ROOT}revocations/`;
export const ALLOWED_PREFIXES: readonly string[] = [
  NODES_PREFIX,
  PROVIDERS_PREFIX,
  TRIGGERS_PREFIX,
  TICKS_PREFIX,
  ROUTES_PREFIX,
  REVOCATIONS_PREFIX,
];

export type KeyKind = "node" | "provider" | "trigger" | "tick" | "route" | "revocation";

/** API token ids as the control plane makes them (`tok_` and base64url). */
const TOKEN_ID = /^tok_[A-Za-z0-9_-]{1,64}$/;

const TICK_TIME = /^(0|[1-9][0-9]{0,15})$/;

function isRouteName(name: string): boolean {
  try {
    parseRouteName(name);
    return true;
  } catch {
    return false;
  }
}

export interface ParsedKey {
  kind: KeyKind;
  /** A valid NodeId, ProviderId, route name or trigger name (`[A-Za-z0-9][A-Za-z0-9._-]*`, at most 128 characters); for a tick, `<trigger>/<ms>`. */
  id: string;
}

/** The key of a node's record. INVALID_REQUEST for an id that is not a valid NodeId. */
export function nodeKey(nodeId: string): string {
  return `${NODES_PREFIX}${NodeId.parse(nodeId)}`;
}

/** The key of a provider's record. INVALID_REQUEST for an id that is not a valid ProviderId. */
export function providerKey(providerId: string): string {
  return `${PROVIDERS_PREFIX}${ProviderId.parse(providerId)}`;
}

/** The key of a revoked token id. INVALID_REQUEST for an id that is not a token id. */
export function revocationKey(tokenId: string): string {
  if (!TOKEN_ID.test(tokenId)) {
    throw new WasmatrixError(ErrorCode.INVALID_REQUEST, `'${truncate(tokenId, 80)}' is not an API token id`, {
      tokenId: truncate(tokenId, 80),
    });
  }
  return `${REVOCATIONS_PREFIX}${tokenId}`;
}

/** The key of a trigger's definition. INVALID_REQUEST for a name that is not a trigger name. */
export function triggerKey(name: string): string {
  return `${TRIGGERS_PREFIX}${TriggerName.parse(name)}`;
}

/** The key of an HTTP route. INVALID_REQUEST for a name that is not a route name. */
export function routeKey(name: string): string {
  return `${ROUTES_PREFIX}${parseRouteName(name)}`;
}

/** The key claiming one tick (`<trigger>/<scheduled ms>`) of a cron trigger. */
export function tickKey(name: string, scheduledAtMs: number): string {
  if (!Number.isSafeInteger(scheduledAtMs) || scheduledAtMs < 0) {
    throw new WasmatrixError(
      ErrorCode.INVALID_REQUEST,
      `a tick time is whole ms since the epoch; got ${scheduledAtMs}`,
    );
  }
  return `${TICKS_PREFIX}${TriggerName.parse(name)}/${scheduledAtMs}`;
}

/** What a key names, or null when it is not exactly `<prefix><valid id>` for an allowed prefix. */
export function parseKey(key: unknown): ParsedKey | null {
  if (typeof key !== "string") return null;
  if (key.startsWith(NODES_PREFIX)) {
    const id = key.slice(NODES_PREFIX.length);
    return NodeId.isValid(id) ? { kind: "node", id } : null;
  }
  if (key.startsWith(PROVIDERS_PREFIX)) {
    const id = key.slice(PROVIDERS_PREFIX.length);
    return ProviderId.isValid(id) ? { kind: "provider", id } : null;
  }
  if (key.startsWith(REVOCATIONS_PREFIX)) {
    const id = key.slice(REVOCATIONS_PREFIX.length);
    return TOKEN_ID.test(id) ? { kind: "revocation", id } : null;
  }
  if (key.startsWith(TRIGGERS_PREFIX)) {
    const id = key.slice(TRIGGERS_PREFIX.length);
    return NodeId.isValid(id) ? { kind: "trigger", id } : null;
  }
  if (key.startsWith(ROUTES_PREFIX)) {
    const id = key.slice(ROUTES_PREFIX.length);
    return isRouteName(id) ? { kind: "route", id } : null;
  }
  if (key.startsWith(TICKS_PREFIX)) {
    const id = key.slice(TICKS_PREFIX.length);
    const slash = id.indexOf("/");
    if (slash < 0) return null;
    return NodeId.isValid(id.slice(0, slash)) && TICK_TIME.test(id.slice(slash + 1))
      ? { kind: "tick", id }
      : null;
  }
  return null;
}

/**
 * Refuses, with INVALID_REQUEST, any key that is not a node, provider, trigger, tick, route or revocation key. Pure, so it can be
 * property-tested; called before every put and delete this package makes.
 */
export function assertAllowedKey(key: unknown): ParsedKey {
  const parsed = parseKey(key);
  if (parsed !== null) return parsed;
  const shown = typeof key === "string" ? truncate(key, 160) : typeof key;
  throw new WasmatrixError(
    ErrorCode.INVALID_REQUEST,
    `etcd holds only node, provider, trigger and route metadata and token revocations: key '${shown}' is not ${NODES_PREFIX}<node id>, ${PROVIDERS_PREFIX}<provider id>, ${TRIGGERS_PREFIX}<trigger>, ${TICKS_PREFIX}<trigger>/<ms>, ${ROUTES_PREFIX}<route> or ${REVOCATIONS_PREFIX}<token id>; instance state, logs, facts and desired state never go to etcd`,
    { key: shown, allowedPrefixes: [...ALLOWED_PREFIXES] },
  );
}

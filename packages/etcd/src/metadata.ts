import type { ProviderMetadata } from "@wasmatrix/core";
import type { IBackoff } from "cockatiel";
import type { Etcd3 } from "etcd3";
import {
  assertAllowedKey,
  NODES_PREFIX,
  nodeKey,
  PROVIDERS_PREFIX,
  parseKey,
  providerKey,
  REVOCATIONS_PREFIX,
  ROUTES_PREFIX,
  revocationKey,
  routeKey,
  TRIGGERS_PREFIX,
  tickKey,
  triggerKey,
} from "./keys.js";
import { type LeasedRegistration, putLeased } from "./leased-record.js";
import { type PrefixWatch, type PrefixWatchHandlers, watchPrefix } from "./prefix-watch.js";
import {
  decodeNodeRecord,
  decodeProviderRecord,
  encodeNodeRecord,
  encodeProviderRecord,
  type NodeRecord,
} from "./records.js";

/** Deadline of one unary etcd call (a put, a range, a revoke). */
export const DEFAULT_CALL_TIMEOUT_MS = 5_000;
/** A node's lease: a node agent killed outright is gone from etcd within about this long. */
export const DEFAULT_NODE_TTL_SECONDS = 3;
export const DEFAULT_PROVIDER_TTL_SECONDS = 10;
/** How long a claimed tick's key lives: long past any clock skew between control planes. */
export const DEFAULT_TICK_TTL_SECONDS = 60;
/** Largest trigger definition stored (its JSON); a cron payload is at most 64 KiB. */
export const MAX_TRIGGER_RECORD_BYTES = 128 * 1024;
/** Largest route stored (its JSON); a checked route is well under 4 KiB plus its target. */
export const MAX_ROUTE_RECORD_BYTES = 16 * 1024;
/**
 * etcd3's defaults open a host's circuit for 5 s after 3 failures and back watches off up to
 * 30 s: after an etcd restart, keep-alives would stay blocked past a short lease's TTL and a
 * watch could stay blind for half a minute. These keep both within about a second.
 */
const CIRCUIT_HALF_OPEN_AFTER_MS = 250;
const WATCH_BACKOFF = { initialDelay: 50, maxDelay: 1_000 };

export interface EtcdMetadataOptions {
  /** etcd client URLs, e.g. `http://10.0.0.1:2379`; several for a cluster. */
  endpoints: readonly string[];
  /** @default DEFAULT_CALL_TIMEOUT_MS */
  callTimeoutMs?: number;
}

export interface LeaseOptions {
  /** Whole seconds; etcd may round a very short TTL up to its minimum (about 2 s). */
  ttlSeconds?: number;
}

export type { PrefixWatch as MetadataWatch };

/** A record this process keeps alive under a lease. */
export type Registration = Omit<LeasedRegistration, "update">;

export interface NodeRegistration extends Registration {
  /**
   * Marks the node as leaving on purpose (call it once its instances have stopped, before
   * `revoke()`): control planes then take the key's disappearance for a departure, not a loss.
   */
  markLeaving(): Promise<void>;
}

/**
 * Node and provider metadata in etcd, and nothing else: every write names its key through
 * `assertAllowedKey` and every value passes an allow-list of fields and a size cap. Records live
 * under leases, so a process that dies takes its record with it within the TTL.
 */
export class EtcdMetadata {
  private readonly registrations = new Set<LeasedRegistration>();
  private readonly watches = new Set<PrefixWatch>();
  private closed = false;

  private constructor(private readonly client: Etcd3) {}

  /**
   * A client for these endpoints (connections are made lazily, on the first call). etcd3 is
   * loaded here, not at import: it brings its own gRPC stack and takes most of a second to load
   * on a small machine, which no process that does not use etcd should pay.
   */
  static async connect(options: EtcdMetadataOptions): Promise<EtcdMetadata> {
    if (options.endpoints.length === 0) throw new RangeError("etcd needs at least one endpoint");
    const [
      { Etcd3, isRecoverableError },
      { ConsecutiveBreaker, circuitBreaker, ExponentialBackoff, handleWhen, retry },
    ] = await Promise.all([import("etcd3"), import("cockatiel")]);
    const callTimeoutMs = options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    const client = new Etcd3({
      hosts: [...options.endpoints],
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + callTimeoutMs }),
      faultHandling: {
        host: () =>
          circuitBreaker(handleWhen(isRecoverableError), {
            halfOpenAfter: CIRCUIT_HALF_OPEN_AFTER_MS,
            breaker: new ConsecutiveBreaker(3),
          }),
        global: retry(handleWhen(isRecoverableError), { maxAttempts: 3 }),
        // etcd3 uses this as a backoff factory (`.next()` then `.duration`), as its own default
        // `new ExponentialBackoff()` is; its declared type says IBackoff.
        watchBackoff: new ExponentialBackoff(WATCH_BACKOFF) as unknown as IBackoff<unknown>,
      },
    });
    return new EtcdMetadata(client);
  }

  /** Writes the node's record under a lease kept alive until `revoke()` (or this process dies). */
  async registerNode(info: unknown, options: LeaseOptions = {}): Promise<NodeRegistration> {
    const { record, json } = encodeNodeRecord(info);
    const leased = await this.leased(
      nodeKey(record.nodeId),
      json,
      options.ttlSeconds ?? DEFAULT_NODE_TTL_SECONDS,
    );
    return {
      ...this.tracked(leased),
      markLeaving: async () => {
        // Through the same validation as any record: the flag is one more allowed field.
        await leased.update(encodeNodeRecord({ ...record, leaving: true }).json);
      },
    };
  }

  /** Writes a provider's record (core's ProviderMetadata) under a lease. */
  async putProvider(metadata: unknown, options: LeaseOptions = {}): Promise<Registration> {
    const { record, json } = encodeProviderRecord(metadata);
    const ttlSeconds = options.ttlSeconds ?? DEFAULT_PROVIDER_TTL_SECONDS;
    return this.tracked(await this.leased(providerKey(record.providerId), json, ttlSeconds));
  }

  /** Every valid node record; invalid ones (written by something else) are skipped. */
  async listNodes(): Promise<NodeRecord[]> {
    return this.list(NODES_PREFIX, decodeNodeRecord);
  }

  async listProviders(): Promise<ProviderMetadata[]> {
    return this.list(PROVIDERS_PREFIX, decodeProviderRecord);
  }

  /** The node records now (as puts), then every change. Resolves once the list is delivered. */
  watchNodes(handlers: PrefixWatchHandlers<NodeRecord>): Promise<PrefixWatch> {
    return this.watch(NODES_PREFIX, handlers, (key, value) => {
      const record = decodeNodeRecord(key, value);
      return { id: record.nodeId, record };
    });
  }

  watchProviders(handlers: PrefixWatchHandlers<ProviderMetadata>): Promise<PrefixWatch> {
    return this.watch(PROVIDERS_PREFIX, handlers, (key, value) => {
      const record = decodeProviderRecord(key, value);
      return { id: record.providerId, record };
    });
  }

  /** Records an API token id as revoked, for good (no lease): every control plane watching refuses it. */
  async putRevocation(tokenId: string): Promise<void> {
    const key = revocationKey(tokenId);
    assertAllowedKey(key);
    await this.client.put(key).value(JSON.stringify({ tokenId, revokedAtMs: Date.now() }));
  }

  /** The revoked token ids now (as puts), then every new one. */
  watchRevocations(handlers: PrefixWatchHandlers<string>): Promise<PrefixWatch> {
    return this.watch(REVOCATIONS_PREFIX, handlers, (key) => {
      const parsed = parseKey(key);
      if (parsed?.kind !== "revocation") throw new Error(`'${key.slice(0, 160)}' is not a revocation key`);
      return { id: parsed.id, record: parsed.id };
    });
  }

  /**
   * Stores a trigger definition (JSON, from the control plane) unless the name is taken; false
   * when it is. Not leased: a trigger lasts until it is removed, across control-plane restarts.
   */
  async createTrigger(name: string, json: string): Promise<boolean> {
    const key = triggerKey(name);
    assertAllowedKey(key);
    if (Buffer.byteLength(json) > MAX_TRIGGER_RECORD_BYTES) {
      throw new RangeError(`a trigger record is at most ${MAX_TRIGGER_RECORD_BYTES} bytes`);
    }
    const result = await this.client
      .if(key, "Create", "==", 0)
      .then(this.client.put(key).value(json))
      .commit();
    return result.succeeded;
  }

  /** Deletes a trigger definition; false when there was none. */
  async deleteTrigger(name: string): Promise<boolean> {
    const key = triggerKey(name);
    assertAllowedKey(key);
    const result = await this.client.delete().key(key).exec();
    return Number(result.deleted) > 0;
  }

  /** The trigger definitions now (as puts, `id` the name), then every change. */
  watchTriggers(handlers: PrefixWatchHandlers<{ name: string; json: string }>): Promise<PrefixWatch> {
    return this.watch(TRIGGERS_PREFIX, handlers, (key, json) => {
      const name = key.slice(TRIGGERS_PREFIX.length);
      triggerKey(name);
      return { id: name, record: { name, json } };
    });
  }

  /**
   * Stores an HTTP route (JSON, from the control plane) unless the name is taken; false when it
   * is. Not leased: a route lasts until it is removed, across control-plane restarts.
   */
  async createRoute(name: string, json: string): Promise<boolean> {
    const key = routeKey(name);
    assertAllowedKey(key);
    if (Buffer.byteLength(json) > MAX_ROUTE_RECORD_BYTES) {
      throw new RangeError(`a route record is at most ${MAX_ROUTE_RECORD_BYTES} bytes`);
    }
    const result = await this.client
      .if(key, "Create", "==", 0)
      .then(this.client.put(key).value(json))
      .commit();
    return result.succeeded;
  }

  /** Deletes a route; false when there was none. */
  async deleteRoute(name: string): Promise<boolean> {
    const key = routeKey(name);
    assertAllowedKey(key);
    const result = await this.client.delete().key(key).exec();
    return Number(result.deleted) > 0;
  }

  /** The routes now, `json` as stored; keys under the prefix that are not route keys are left out. */
  async listRoutes(): Promise<{ name: string; json: string }[]> {
    const kvs = await this.client.getAll().prefix(ROUTES_PREFIX).strings();
    return Object.entries(kvs)
      .filter(([key]) => parseKey(key)?.kind === "route")
      .map(([key, json]) => ({ name: key.slice(ROUTES_PREFIX.length), json }))
      .sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  /** The routes now (as puts, `id` the name), then every change. */
  watchRoutes(handlers: PrefixWatchHandlers<{ name: string; json: string }>): Promise<PrefixWatch> {
    return this.watch(ROUTES_PREFIX, handlers, (key, json) => {
      const parsed = parseKey(key);
      if (parsed?.kind !== "route") throw new Error(`'${key.slice(0, 160)}' is not a route key`);
      return { id: parsed.id, record: { name: parsed.id, json } };
    });
  }

  /**
   * Claims one tick of a cron trigger: true for exactly one caller per (trigger, time) across
   * every control plane sharing this etcd. The claim is a key created only if absent, under a
   * lease of `ttlSeconds` that nobody renews, so claims clean themselves up.
   */
  async claimTick(name: string, scheduledAtMs: number, owner: string, ttlSeconds = DEFAULT_TICK_TTL_SECONDS) {
    const key = tickKey(name, scheduledAtMs);
    assertAllowedKey(key);
    const lease = this.client.lease(ttlSeconds, { autoKeepAlive: false });
    lease.on("lost", () => undefined);
    try {
      const id = await lease.grant();
      const result = await this.client
        .if(key, "Create", "==", 0)
        .then(this.client.put(key).value(owner).lease(id))
        .commit();
      if (!result.succeeded) await lease.revoke().catch(() => undefined);
      return result.succeeded;
    } finally {
      lease.release();
    }
  }

  /**
   * Stops watches and keep-alives without revoking: records of this process expire with their
   * TTL. Revoke a registration first to make its record disappear at once.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.watches].map((w) => w.close()));
    this.watches.clear();
    for (const registration of this.registrations) registration.release();
    this.registrations.clear();
    this.client.close();
  }

  private async leased(key: string, json: string, ttlSeconds: number): Promise<LeasedRegistration> {
    assertAllowedKey(key);
    const registration = await putLeased(this.client, key, json, ttlSeconds);
    this.registrations.add(registration);
    return registration;
  }

  /** What callers get: no raw `update` (values change only through the record encoders here). */
  private tracked(registration: LeasedRegistration): Registration {
    return {
      key: registration.key,
      onLost: (cb) => registration.onLost(cb),
      onRestored: (cb) => registration.onRestored(cb),
      release: () => {
        this.registrations.delete(registration);
        registration.release();
      },
      revoke: async (timeoutMs?: number) => {
        this.registrations.delete(registration);
        await registration.revoke(timeoutMs);
      },
    };
  }

  private async list<T>(prefix: string, decode: (key: string, value: string) => T): Promise<T[]> {
    const values = await this.client.getAll().prefix(prefix).strings();
    const records: T[] = [];
    for (const [key, value] of Object.entries(values)) {
      try {
        records.push(decode(key, value));
      } catch {
        // Not a record wasmatrix wrote: ignored, as watchers ignore it.
      }
    }
    return records;
  }

  private async watch<T>(
    prefix: string,
    handlers: PrefixWatchHandlers<T>,
    decode: (key: string, value: string) => { id: string; record: T },
  ): Promise<PrefixWatch> {
    const watch = await watchPrefix(this.client, prefix, decode, handlers);
    this.watches.add(watch);
    return {
      close: async () => {
        this.watches.delete(watch);
        await watch.close();
      },
    };
  }
}

import type { Etcd3, Lease } from "etcd3";
import { assertAllowedKey } from "./keys.js";

/** The first re-grant after a lost lease waits this long, doubling up to the maximum. */
const REGRANT_INITIAL_MS = 100;
const REGRANT_MAX_MS = 1_000;
/** etcd refuses shorter leases than 1 s; a single member grants at least ~2 s anyway. */
export const MIN_LEASE_TTL_SECONDS = 1;

/** A record kept under a lease: it exists while its owner keeps the lease alive, and no longer. */
export interface LeasedRegistration {
  /** The key it is written under. */
  readonly key: string;
  /**
   * Revokes the lease: the key disappears at once (watchers see a delete). Resolves even if etcd
   * cannot be reached within `timeoutMs`; the key then expires with its TTL.
   */
  revoke(timeoutMs?: number): Promise<void>;
  /** Stops the keep-alives without revoking: the key expires with its TTL. */
  release(): void;
  /** Writes a new value under the same lease (and under any lease granted after a loss). */
  update(value: string): Promise<void>;
  /**
   * `cb` is told when the lease is lost (etcd unreachable past the TTL, or the lease expired or
   * was revoked by someone else), once per loss. The record is then written again under a new
   * lease on its own; the callback is for logging. Returns a function that unsubscribes.
   */
  onLost(cb: (error: Error) => void): () => void;
  /** Told when the record is written again under a new lease after a loss. */
  onRestored(cb: () => void): () => void;
}

/**
 * Grants a lease, writes the record under it, keeps it alive (etcd3 sends keep-alives every
 * TTL/3) and, when the lease is lost, grants a new one and writes the record again, backing off
 * while etcd is away. Resolves once the record is first written; rejects if that fails.
 */
export async function putLeased(
  client: Etcd3,
  key: string,
  initialValue: string,
  ttlSeconds: number,
): Promise<LeasedRegistration> {
  let value = initialValue;
  assertAllowedKey(key);
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < MIN_LEASE_TTL_SECONDS) {
    throw new RangeError(
      `a lease TTL is a whole number of seconds ≥ ${MIN_LEASE_TTL_SECONDS}; got ${ttlSeconds}`,
    );
  }
  const lostListeners = new Set<(error: Error) => void>();
  const restoredListeners = new Set<() => void>();
  let current: Lease | null = null;
  let closed = false;
  let attempt = 0;
  // Listeners hear of a loss once, not once per failed re-grant while etcd is away.
  let held = false;
  let timer: NodeJS.Timeout | null = null;

  const establish = async (): Promise<void> => {
    const lease = client.lease(ttlSeconds);
    current = lease;
    lease.on("lost", (error) => lost(lease, error));
    try {
      assertAllowedKey(key);
      await lease.put(key).value(value);
    } catch (error) {
      // A failed grant has already been reported through "lost"; a failed put has not.
      if (current === lease) {
        lease.release();
        lost(lease, error as Error);
      }
      throw error;
    }
    attempt = 0;
    held = true;
  };

  const lost = (lease: Lease, error: Error) => {
    if (lease !== current || closed) return;
    current = null;
    if (held) for (const cb of lostListeners) cb(error);
    held = false;
    retry();
  };

  const retry = () => {
    if (closed || timer !== null) return;
    const delay = Math.min(REGRANT_MAX_MS, REGRANT_INITIAL_MS * 2 ** attempt++);
    timer = setTimeout(() => {
      timer = null;
      establish().then(
        () => {
          if (closed) return;
          for (const cb of restoredListeners) cb();
        },
        // establish() has scheduled the next attempt through lost().
        () => undefined,
      );
    }, delay);
  };

  try {
    await establish();
  } catch (error) {
    closed = true;
    if (timer !== null) clearTimeout(timer);
    throw error;
  }

  return {
    key,
    async revoke(timeoutMs = 2_000) {
      closed = true;
      if (timer !== null) clearTimeout(timer);
      const lease = current;
      current = null;
      if (lease === null) return;
      let deadline: NodeJS.Timeout | undefined;
      await Promise.race([
        lease.revoke({ deadline: Date.now() + timeoutMs }).catch(() => lease.release()),
        new Promise<void>((resolve) => {
          deadline = setTimeout(() => {
            lease.release();
            resolve();
          }, timeoutMs);
        }),
      ]);
      clearTimeout(deadline);
    },
    async update(next) {
      value = next;
      const lease = current;
      if (lease === null) return;
      assertAllowedKey(key);
      await lease.put(key).value(next);
    },
    release() {
      closed = true;
      if (timer !== null) clearTimeout(timer);
      current?.release();
      current = null;
    },
    onLost(cb) {
      lostListeners.add(cb);
      return () => lostListeners.delete(cb);
    },
    onRestored(cb) {
      restoredListeners.add(cb);
      return () => restoredListeners.delete(cb);
    },
  };
}

import { ErrorCode, WasmatrixError } from "@wasmatrix/core";

/** Distinct modules kept compiled. */
export const DEFAULT_CACHE_MAX_ENTRIES = 256;
/** Estimated bytes of compiled code kept, summed over entries. */
export const DEFAULT_CACHE_MAX_BYTES = 512 * 1024 * 1024;

export interface ModuleCacheOptions {
  /** Most entries kept; 0 disables the cache. @default DEFAULT_CACHE_MAX_ENTRIES */
  maxEntries: number;
  /** Most bytes kept, by the sizes given to `set`. @default DEFAULT_CACHE_MAX_BYTES */
  maxBytes: number;
}

export interface CacheStats {
  hits: number;
  misses: number;
  /** Entries dropped to stay within bounds, plus entries refused for being larger than `maxBytes`. */
  evictions: number;
  entries: number;
  bytes: number;
}

interface Entry<V> {
  value: V;
  sizeBytes: number;
}

/**
 * A least-recently-used cache keyed by module digest, bounded both in entries and in bytes.
 * The Map's insertion order is the recency order: a hit re-inserts its key at the end, so the
 * first key is always the next to be evicted.
 */
export class ModuleCache<V> {
  private readonly entries = new Map<string, Entry<V>>();
  private readonly maxEntries: number;
  private readonly maxBytes: number;
  private bytes = 0;
  private hits = 0;
  private misses = 0;
  private evictions = 0;

  constructor(options: ModuleCacheOptions) {
    checkBound("maxEntries", options.maxEntries);
    checkBound("maxBytes", options.maxBytes);
    this.maxEntries = options.maxEntries;
    this.maxBytes = options.maxBytes;
  }

  /** The value for `digest`, counted as a hit or a miss; a hit becomes the most recently used. */
  get(digest: string): V | undefined {
    const entry = this.entries.get(digest);
    if (entry === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.entries.delete(digest);
    this.entries.set(digest, entry);
    return entry.value;
  }

  /** The value for `digest` without counting it or changing its recency. */
  peek(digest: string): V | undefined {
    return this.entries.get(digest)?.value;
  }

  /** Whether `digest` is cached, without counting it or changing its recency. */
  has(digest: string): boolean {
    return this.entries.has(digest);
  }

  /**
   * Stores `value` as the most recently used entry, replacing any entry for `digest`, then evicts
   * least-recently-used entries until both bounds hold. A value larger than `maxBytes` on its own
   * is not stored: keeping it would mean evicting everything else and then itself.
   */
  set(digest: string, value: V, sizeBytes: number): void {
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes < 0) {
      throw new WasmatrixError(
        ErrorCode.INVALID_REQUEST,
        `cache entry size must be a non-negative integer number of bytes, not ${sizeBytes}`,
        { digest, sizeBytes },
      );
    }
    this.delete(digest);
    if (sizeBytes > this.maxBytes || this.maxEntries < 1) {
      this.evictions++;
      return;
    }
    this.entries.set(digest, { value, sizeBytes });
    this.bytes += sizeBytes;
    while (this.entries.size > this.maxEntries || this.bytes > this.maxBytes) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      this.delete(oldest.value);
      this.evictions++;
    }
  }

  delete(digest: string): boolean {
    const entry = this.entries.get(digest);
    if (entry === undefined) return false;
    this.entries.delete(digest);
    this.bytes -= entry.sizeBytes;
    return true;
  }

  /** Drops every entry. The hit, miss and eviction counters run on: they count since construction. */
  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }

  /** Cached digests, least recently used first. */
  keys(): string[] {
    return [...this.entries.keys()];
  }

  get stats(): CacheStats {
    return {
      hits: this.hits,
      misses: this.misses,
      evictions: this.evictions,
      entries: this.entries.size,
      bytes: this.bytes,
    };
  }
}

/** Bounds are whole numbers; `Infinity` lifts one. */
function checkBound(name: keyof ModuleCacheOptions, value: number): void {
  if (value === Number.POSITIVE_INFINITY || (Number.isSafeInteger(value) && value >= 0)) return;
  throw new WasmatrixError(
    ErrorCode.INVALID_REQUEST,
    `cache ${name} must be a non-negative integer or Infinity, not ${value}`,
    { [name]: value },
  );
}

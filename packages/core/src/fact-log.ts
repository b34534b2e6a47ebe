import { ErrorCode, WasmatrixError } from "./errors.js";
import type { Fact, FactInput, FactKind } from "./facts.js";
import { validateFactInput } from "./facts.js";
import type { InstanceId, NodeId } from "./ids.js";
import { invalid, requireCount } from "./validation.js";

/**
 * The bounded, in-memory, append-only window of execution facts that the control plane keeps
 * and streams. Memory is flat however long it runs: facts live in a ring of `maxFacts` slots,
 * the per-source sequence map holds at most `maxSources` entries, and a subscriber holds only a
 * cursor into the ring (the ring is everyone's buffer). Semantics in docs/core.md.
 */

export const DEFAULT_MAX_FACTS = 10_000;
export const DEFAULT_MAX_SOURCES = 1024;
// A ring this large would already be ~1 GiB of facts; anything bigger is a typo.
export const MAX_MAX_FACTS = 10_000_000;

export interface FactLogOptions {
  /** Facts retained; appending to a full log drops the oldest. @default DEFAULT_MAX_FACTS */
  maxFacts?: number;
  /**
   * Sources whose last sourceSeq is remembered for duplicate detection; the least recently heard
   * is forgotten first. Sources are nodes and control planes, so a few hundred is plenty.
   * @default DEFAULT_MAX_SOURCES
   */
  maxSources?: number;
  /** Clock for facts appended without `at`. @default Date.now */
  now?: () => number;
  /**
   * Told when an `onAppend` listener throws. The append itself never fails for it.
   * @default rethrow on a microtask, so the bug surfaces as an uncaught exception
   */
  onListenerError?: (error: unknown) => void;
}

function rethrowLater(error: unknown): void {
  queueMicrotask(() => {
    throw error;
  });
}

/** Which facts a query or subscription wants. Every given field must match. */
export interface FactFilter {
  instanceId?: InstanceId | string;
  nodeId?: NodeId | string;
  source?: string;
  kind?: FactKind;
  kinds?: readonly FactKind[];
}

export interface FactQuery extends FactFilter {
  /** Facts with `at ≥ since` (ms). */
  since?: number;
  /** Facts with `at < until` (ms). */
  until?: number;
  /** Facts with `seq > afterSeq`: page with the last seq you saw. */
  afterSeq?: number;
  /** At most this many, counted in `order`. */
  limit?: number;
  /** @default "asc" (oldest first) */
  order?: "asc" | "desc";
}

export interface SubscribeOptions {
  /**
   * Replay retained facts with `seq > afterSeq` before live ones (0 = everything retained).
   * Omitted: only facts appended after subscribing.
   */
  afterSeq?: number;
  filter?: FactFilter | ((fact: Fact) => boolean);
  /**
   * How many facts (of any kind, counted by seq) the reader may trail the head of the log by
   * before its stream ends with an overflow. At most, and by default, `maxFacts`: beyond that the
   * facts it has not read are gone.
   */
  maxLag?: number;
  /** Aborting ends the stream (reason "aborted"). */
  signal?: AbortSignal;
}

export type FactStreamEnd =
  | { readonly reason: "closed" }
  | { readonly reason: "aborted" }
  | { readonly reason: "overflow"; readonly error: WasmatrixError }
  /** The filter function threw. */
  | { readonly reason: "error"; readonly error: WasmatrixError };

export interface FactSubscription extends AsyncIterableIterator<Fact> {
  /** Resolves (never rejects) with how the stream ended. */
  readonly closed: Promise<FactStreamEnd>;
  /** True when `afterSeq` asked for facts the log had already dropped. */
  readonly truncated: boolean;
  close(): void;
}

function compileFilter(filter: SubscribeOptions["filter"]): (fact: Fact) => boolean {
  if (filter === undefined) return () => true;
  if (typeof filter === "function") return filter;
  const { instanceId, nodeId, source, kind, kinds } = filter;
  const kindSet = kinds === undefined ? undefined : new Set<string>(kinds);
  return (fact) =>
    (instanceId === undefined || fact.instanceId === instanceId) &&
    (nodeId === undefined || fact.nodeId === nodeId) &&
    (source === undefined || fact.source === source) &&
    (kind === undefined || fact.kind === kind) &&
    (kindSet === undefined || kindSet.has(fact.kind));
}

export class FactLog {
  readonly maxFacts: number;
  readonly maxSources: number;
  readonly #now: () => number;
  readonly #onListenerError: (error: unknown) => void;
  // Ring: the fact with seq s sits at slot (s - 1) % maxFacts; seqs are dense, so no search.
  readonly #ring: (Fact | undefined)[] = [];
  #lastSeq = 0;
  #size = 0;
  // Map iteration order is insertion order: deleting and re-inserting on each append keeps the
  // least recently heard source first, ready to evict.
  readonly #sources = new Map<string, number>();
  #forgotSources = false;
  readonly #subscribers = new Set<Subscriber>();
  readonly #listeners = new Set<(fact: Fact) => void>();

  constructor(options: FactLogOptions = {}) {
    this.maxFacts = requireCount("maxFacts", options.maxFacts ?? DEFAULT_MAX_FACTS, 1);
    if (this.maxFacts > MAX_MAX_FACTS) {
      throw invalid(`maxFacts may be at most ${MAX_MAX_FACTS}`, { maxFacts: this.maxFacts });
    }
    this.maxSources = requireCount("maxSources", options.maxSources ?? DEFAULT_MAX_SOURCES, 1);
    this.#now = options.now ?? Date.now;
    this.#onListenerError = options.onListenerError ?? rethrowLater;
  }

  /** Seq of the oldest retained fact; `lastSeq + 1` when none is retained. */
  get firstSeq(): number {
    return this.#lastSeq - this.#size + 1;
  }

  /** Seq of the newest fact ever appended; 0 before the first. */
  get lastSeq(): number {
    return this.#lastSeq;
  }

  /** Facts retained now (≤ maxFacts). */
  get size(): number {
    return this.#size;
  }

  /** Sources whose last sourceSeq is remembered (≤ maxSources). */
  get sourceCount(): number {
    return this.#sources.size;
  }

  get subscriberCount(): number {
    return this.#subscribers.size;
  }

  /** The last sourceSeq accepted from `source`, if still remembered. */
  lastSourceSeq(source: string): number | undefined {
    return this.#sources.get(source);
  }

  /**
   * Appends a fact and returns it with its seq. With `sourceSeq` given (a relayed remote fact),
   * one not above the last accepted from that source is a duplicate: it is ignored and null is
   * returned, so replaying a node's report is harmless. Gaps are accepted (facts a source lost
   * are lost). Without `sourceSeq`, the log numbers the fact itself.
   */
  append<K extends FactKind>(input: FactInput<K>): Fact<K> | null {
    const checked = validateFactInput(input);
    const last = this.#sources.get(checked.source);
    const seq = this.#lastSeq + 1;
    let sourceSeq: number;
    if (checked.sourceSeq === undefined) {
      // A self-numbered sourceSeq never exceeds the seq it was given with, so a source that was
      // forgotten and comes back stays monotonic if it restarts from the current seq.
      sourceSeq = last !== undefined ? last + 1 : this.#forgotSources ? seq : 1;
    } else {
      if (last !== undefined && checked.sourceSeq <= last) return null;
      sourceSeq = checked.sourceSeq;
    }
    this.#sources.delete(checked.source);
    this.#sources.set(checked.source, sourceSeq);
    if (this.#sources.size > this.maxSources) {
      // Forgetting a source only weakens duplicate detection for it; nothing else depends on it.
      const oldest = this.#sources.keys().next().value as string;
      this.#sources.delete(oldest);
      this.#forgotSources = true;
    }

    const fact = Object.freeze({
      seq,
      source: checked.source,
      sourceSeq,
      kind: checked.kind,
      ...(checked.instanceId === undefined ? {} : { instanceId: checked.instanceId }),
      ...(checked.nodeId === undefined ? {} : { nodeId: checked.nodeId }),
      at: checked.at ?? this.#now(),
      data: checked.data,
    }) as unknown as Fact<K>;
    this.#ring[(seq - 1) % this.maxFacts] = fact;
    this.#lastSeq = seq;
    if (this.#size < this.maxFacts) this.#size++;

    for (const subscriber of this.#subscribers) subscriber.onAppend();
    for (const listener of this.#listeners) {
      try {
        listener(fact);
      } catch (error) {
        this.#onListenerError(error);
      }
    }
    return fact;
  }

  /**
   * Calls `listener` synchronously with every fact appended from now on, for in-process
   * forwarding (embedded mode hands a node agent's facts to its control plane this way).
   * Returns the function that removes it. Use `subscribe` where a reader may lag.
   */
  onAppend(listener: (fact: Fact) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** The retained fact with this seq, if any. */
  get(seq: number): Fact | undefined {
    if (!Number.isSafeInteger(seq) || seq < this.firstSeq || seq > this.#lastSeq) return undefined;
    return this.#ring[(seq - 1) % this.maxFacts];
  }

  query(query: FactQuery = {}): Fact[] {
    const limit =
      query.limit === undefined ? Number.POSITIVE_INFINITY : requireCount("limit", query.limit, 1);
    if (query.order !== undefined && query.order !== "asc" && query.order !== "desc") {
      throw invalid("order must be 'asc' or 'desc'", {});
    }
    const matches = compileFilter(query);
    const { since, until } = query;
    const from = Math.max(this.firstSeq, query.afterSeq === undefined ? 0 : Math.floor(query.afterSeq) + 1);
    const result: Fact[] = [];
    const take = (seq: number): boolean => {
      const fact = this.#ring[(seq - 1) % this.maxFacts]!;
      if (since !== undefined && fact.at < since) return true;
      if (until !== undefined && fact.at >= until) return true;
      if (matches(fact)) result.push(fact);
      return result.length < limit;
    };
    if (query.order === "desc") {
      for (let seq = this.#lastSeq; seq >= from && take(seq); seq--);
    } else {
      for (let seq = from; seq <= this.#lastSeq && take(seq); seq++);
    }
    return result;
  }

  /**
   * A stream of facts for `for await`: retained ones after `afterSeq` first, then live ones, in
   * seq order. Breaking out of the loop, `close()` or the signal ends it; a reader that trails by
   * more than `maxLag` facts is ended with a RESOURCE_EXHAUSTED error (reason "overflow").
   */
  subscribe(options: SubscribeOptions = {}): FactSubscription {
    const maxLag = requireCount("maxLag", options.maxLag ?? this.maxFacts, 1);
    if (maxLag > this.maxFacts) {
      throw invalid(`maxLag may be at most maxFacts (${this.maxFacts})`, { maxLag, maxFacts: this.maxFacts });
    }
    let cursor = this.#lastSeq + 1;
    let truncated = false;
    if (options.afterSeq !== undefined) {
      const afterSeq = requireCount("afterSeq", options.afterSeq, 0);
      // A reader ahead of the log (it saw another incarnation's seqs) starts at the head.
      cursor = Math.min(afterSeq + 1, this.#lastSeq + 1);
      if (cursor < this.firstSeq) {
        truncated = true;
        cursor = this.firstSeq;
      }
    }
    const subscriber = new Subscriber(this, cursor, compileFilter(options.filter), maxLag, truncated);
    this.#subscribers.add(subscriber);
    subscriber.watch(options.signal);
    return subscriber;
  }

  /** @internal for Subscriber */
  _detach(subscriber: Subscriber): void {
    this.#subscribers.delete(subscriber);
  }
}

type Waiter = { resolve: (result: IteratorResult<Fact>) => void; reject: (error: unknown) => void };

class Subscriber implements FactSubscription {
  readonly closed: Promise<FactStreamEnd>;
  readonly truncated: boolean;
  readonly #log: FactLog;
  readonly #matches: (fact: Fact) => boolean;
  readonly #maxLag: number;
  /** The next seq to look at. */
  #cursor: number;
  #resolveClosed!: (end: FactStreamEnd) => void;
  #end: FactStreamEnd | null = null;
  #errorDelivered = false;
  #waiters: Waiter[] = [];
  #signal: AbortSignal | undefined;
  readonly #onAbort = () => this.#finish({ reason: "aborted" });

  constructor(
    log: FactLog,
    cursor: number,
    matches: (fact: Fact) => boolean,
    maxLag: number,
    truncated: boolean,
  ) {
    this.#log = log;
    this.#cursor = cursor;
    this.#matches = matches;
    this.#maxLag = maxLag;
    this.truncated = truncated;
    this.closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
  }

  watch(signal: AbortSignal | undefined): void {
    if (signal === undefined) return;
    if (signal.aborted) {
      this.#finish({ reason: "aborted" });
      return;
    }
    this.#signal = signal;
    signal.addEventListener("abort", this.#onAbort, { once: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<Fact>> {
    if (this.#end !== null) return this.#ended();
    const fact = this.#scan();
    if (fact !== undefined) return Promise.resolve({ value: fact, done: false });
    if (this.#end !== null) return this.#ended();
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  return(): Promise<IteratorResult<Fact>> {
    this.#finish({ reason: "closed" });
    return Promise.resolve({ value: undefined, done: true });
  }

  throw(): Promise<IteratorResult<Fact>> {
    return this.return();
  }

  close(): void {
    this.#finish({ reason: "closed" });
  }

  /** Called by the log after each append. */
  onAppend(): void {
    const lag = this.#log.lastSeq - this.#cursor + 1;
    if (lag > this.#maxLag) {
      this.#overflow(lag);
      return;
    }
    while (this.#waiters.length > 0) {
      const fact = this.#scan();
      if (fact === undefined) return;
      this.#waiters.shift()!.resolve({ value: fact, done: false });
    }
  }

  #scan(): Fact | undefined {
    while (this.#end === null && this.#cursor <= this.#log.lastSeq) {
      const fact = this.#log.get(this.#cursor);
      if (fact === undefined) {
        // The lag check on append normally ends the stream first; this guards the invariant.
        this.#overflow(this.#log.lastSeq - this.#cursor + 1);
        return undefined;
      }
      this.#cursor++;
      let wanted: boolean;
      try {
        wanted = this.#matches(fact);
      } catch (error) {
        // A throwing filter must not break append() for the log's other readers.
        this.#finish({ reason: "error", error: WasmatrixError.from(error) });
        return undefined;
      }
      if (wanted) return fact;
    }
    return undefined;
  }

  #overflow(lag: number): void {
    this.#finish({
      reason: "overflow",
      error: new WasmatrixError(
        ErrorCode.RESOURCE_EXHAUSTED,
        `fact subscriber fell ${lag} facts behind (limit ${this.#maxLag}); resubscribe with afterSeq set to the last seq it read`,
        { lag, maxLag: this.#maxLag, nextSeq: this.#cursor },
      ),
    });
  }

  #ended(): Promise<IteratorResult<Fact>> {
    const end = this.#end;
    if (end !== null && "error" in end && !this.#errorDelivered) {
      this.#errorDelivered = true;
      return Promise.reject(end.error);
    }
    return Promise.resolve({ value: undefined, done: true });
  }

  #finish(end: FactStreamEnd): void {
    if (this.#end !== null) return;
    this.#end = end;
    this.#log._detach(this);
    this.#signal?.removeEventListener("abort", this.#onAbort);
    this.#signal = undefined;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) {
      if ("error" in end && !this.#errorDelivered) {
        this.#errorDelivered = true;
        waiter.reject(end.error);
      } else {
        waiter.resolve({ value: undefined, done: true });
      }
    }
    this.#resolveClosed(end);
  }
}

import type { InboundMessage } from "@wasmatrix/providers";

/** What the queue needs to know of a subscription. */
export interface QueueSource {
  readonly closing: boolean;
}

/** A message waiting for its instance, and the subscription it came by. */
export interface Delivery<S extends QueueSource> {
  readonly message: InboundMessage;
  readonly sub: S;
}

/**
 * One instance's queue: a bounded FIFO of messages from all its subscriptions, handed to
 * `process` in arrival order, at most `concurrency` at a time. Durable sources reserve room
 * before they pull, so the queue never holds more than `capacity`; a core source that finds it
 * full loses the message.
 */
export class DeliveryQueue<S extends QueueSource> {
  readonly items: Delivery<S>[] = [];
  readonly inFlight = new Set<Delivery<S>>();
  capacity: number;
  /** Invocations under way at once, at most. */
  concurrency: number;
  private reserved = 0;
  private waiters: (() => void)[] = [];
  private workers = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(
    capacity: number,
    concurrency: number,
    private readonly process: (item: Delivery<S>) => Promise<void>,
    private readonly sources: () => number,
  ) {
    this.capacity = capacity;
    this.concurrency = concurrency;
  }

  private get free(): number {
    return this.capacity - this.items.length - this.reserved;
  }

  offer(item: Delivery<S>): boolean {
    if (this.free <= 0) return false;
    this.items.push(item);
    this.pump();
    return true;
  }

  /**
   * Waits until a fair share of the queue is free, and reserves it. Shares are per subscription,
   * durable or core, so a durable pull never takes the room a core subscription needs.
   */
  async room(sub: S): Promise<number> {
    const share = Math.max(1, Math.floor(this.capacity / Math.max(1, this.sources())));
    const wanted = Math.min(share, Math.max(1, Math.floor(this.capacity / 2)));
    while (!sub.closing && this.free < wanted)
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    if (sub.closing) return 0;
    const granted = Math.min(this.free, share);
    this.reserved += granted;
    return granted;
  }

  accept(item: Delivery<S>): void {
    this.reserved--;
    this.items.push(item);
    this.pump();
  }

  done(unused: number): void {
    this.reserved -= unused;
    this.wake();
  }

  /** Takes a subscription's waiting messages out of the queue. */
  remove(sub: S): Delivery<S>[] {
    const removed: Delivery<S>[] = [];
    for (let i = this.items.length - 1; i >= 0; i--) {
      if (this.items[i]!.sub === sub) removed.push(...this.items.splice(i, 1));
    }
    this.wake();
    return removed.reverse();
  }

  wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }

  /** Resolves when nothing is being invoked. */
  idle(): Promise<void> {
    if (this.workers === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    while (this.workers < this.concurrency && this.items.length > this.workers - this.inFlight.size) {
      this.workers++;
      void this.work();
    }
  }

  private async work(): Promise<void> {
    for (let item = this.items.shift(); item !== undefined; item = this.items.shift()) {
      this.wake();
      this.inFlight.add(item);
      // `process` handles its own failures; this only keeps one bug from stalling the queue.
      await this.process(item).catch(() => undefined);
      this.inFlight.delete(item);
    }
    this.workers--;
    if (this.workers === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }
}

import {
  type CapabilityAssignment,
  checkPermission,
  DEFAULT_TENANT,
  ErrorCode,
  isAllowed,
  tenantSubject,
  WasmatrixError,
} from "@wasmatrix/core";
import { type Logger, silentLogger } from "@wasmatrix/core/logger";
import type {
  DurableSink,
  DurableSubscription,
  DurableSubscriptionSpec,
  MessageHandler,
  MessageSubscription,
} from "@wasmatrix/providers";
import { DeliveryQueue } from "./delivery-queue.js";
import {
  type DeliveryTarget,
  type Invoker,
  type SubscriptionCounters,
  SubscriptionDelivery,
} from "./subscription-delivery.js";
import { DEFAULT_SUBSCRIPTION_ACK_WAIT_MS, resolveSpec, type SubscriptionSpec } from "./subscription-spec.js";

export type { Invoker, SubscriptionCounters } from "./subscription-delivery.js";
export * from "./subscription-spec.js";

/** What the manager needs of the messaging provider (`MessagingProvider`). */
export interface MessageBus {
  subscribe(
    subject: string,
    queue: string | undefined,
    handler: MessageHandler,
  ): Promise<MessageSubscription>;
  subscribeDurable(spec: DurableSubscriptionSpec, sink: DurableSink): Promise<DurableSubscription>;
  publish(subject: string, data: Uint8Array, headers?: Readonly<Record<string, string>>): Promise<void>;
}

export interface SubscriptionView {
  instanceId: string;
  subject: string;
  queue: string | null;
  operation: string;
  delivery: "durable" | "core";
  deadLetterSubject: string;
  /** Messages of this subscription waiting in the instance's queue. */
  queued: number;
  counters: SubscriptionCounters;
}

export interface SubscriptionManagerOptions {
  logger?: Logger;
  /** @default DEFAULT_SUBSCRIPTION_ACK_WAIT_MS */
  ackWaitMs?: number;
}

interface Active extends DeliveryTarget {
  handle: MessageSubscription | DurableSubscription | null;
  closing: boolean;
  stop(): void;
}

/**
 * Delivers the messages of NATS subscriptions to instances as invocations, with a bounded queue
 * per instance, retries with exponential backoff, and a dead-letter subject for messages whose
 * every attempt failed (a guest error, a crash, or an error such as the instance not running).
 * This file keeps the subscriptions and the queues; subscription-delivery.ts the attempts.
 */
export class SubscriptionManager {
  private readonly subscriptions = new Map<string, Active>();
  private readonly queues = new Map<string, DeliveryQueue<Active>>();
  private readonly logger: Logger;
  private readonly ackWaitMs: number;
  private readonly heartbeat: NodeJS.Timeout;
  private closed = false;
  private readonly paused = new Map<string, { resumed: Promise<void>; resume: () => void }>();
  private readonly delivery: SubscriptionDelivery;

  constructor(
    agent: Invoker,
    private readonly bus: MessageBus,
    options: SubscriptionManagerOptions = {},
  ) {
    this.logger = options.logger ?? silentLogger;
    this.ackWaitMs = options.ackWaitMs ?? DEFAULT_SUBSCRIPTION_ACK_WAIT_MS;
    this.delivery = new SubscriptionDelivery(
      agent,
      (subject, data, headers) => bus.publish(subject, data, headers),
      (instanceId) => this.paused.get(instanceId)?.resumed,
      this.logger,
    );
    // Messages held here (queued or being retried) are kept alive on the server, so a slow
    // instance does not get them delivered twice.
    this.heartbeat = setInterval(() => this.keepAlive(), Math.max(100, this.ackWaitMs / 3));
    this.heartbeat.unref();
  }

  /**
   * Subscribes an instance. `assignments` are the instance's; one messaging assignment (the
   * spec's binding) must grant `msg:subscribe:` a pattern covering the subject. The permission
   * is checked on the subject the guest names; the bus then carries it under the tenant's prefix
   * (core's `tenantSubject`), and so does the dead-letter subject.
   */
  async subscribe(
    instanceId: string,
    spec: SubscriptionSpec,
    assignments: readonly CapabilityAssignment[],
    tenant: string = DEFAULT_TENANT,
  ): Promise<SubscriptionView> {
    if (this.closed) {
      throw new WasmatrixError(ErrorCode.FAILED_PRECONDITION, "subscriptions: the manager is closed");
    }
    const resolved = resolveSpec(instanceId, spec);
    const assignment = assignments.find(
      (a) => a.capability === "messaging" && a.binding === resolved.binding,
    );
    if (assignment === undefined) {
      throw new WasmatrixError(
        ErrorCode.CAPABILITY_NOT_ASSIGNED,
        `instance '${instanceId}' has no 'messaging' assignment with binding '${resolved.binding}'; assign one with: wasmatrix caps assign ${instanceId} messaging=msg:subscribe:${resolved.subject}`,
        { instanceId, capability: "messaging", binding: resolved.binding },
      );
    }
    checkPermission(assignment.permissions, { kind: "msg", action: "subscribe", subject: resolved.subject });
    const busSubject = tenantSubject(tenant, resolved.subject);
    const deadLetterBusSubject = tenantSubject(tenant, resolved.deadLetterSubject);
    const key = `${instanceId}\u0000${resolved.subject}`;
    if (this.subscriptions.has(key)) {
      throw new WasmatrixError(
        ErrorCode.ALREADY_EXISTS,
        `instance '${instanceId}' is already subscribed to '${resolved.subject}'; unsubscribe first to change it`,
        { instanceId, subject: resolved.subject },
      );
    }
    let stop = () => {};
    const stopped = new Promise<void>((resolve) => {
      stop = resolve;
    });
    const active: Active = {
      instanceId,
      spec: resolved,
      tenant,
      deadLetterBusSubject,
      counters: { delivered: 0, retried: 0, deadLettered: 0, dropped: 0 },
      handle: null,
      closing: false,
      stopped,
      stop,
    };
    this.subscriptions.set(key, active);
    const queue = this.queueOf(instanceId, resolved.maxQueue, resolved.maxInFlight);
    try {
      if (resolved.delivery === "durable") {
        const durable =
          resolved.queue === undefined
            ? `instance/${instanceId}/${busSubject}`
            : `queue/${resolved.queue}/${busSubject}`;
        active.handle = await this.bus.subscribeDurable(
          { subject: busSubject, durable, ackWaitMs: this.ackWaitMs },
          {
            room: () => queue.room(active),
            accept: (message) => queue.accept({ message, sub: active }),
            done: (unused) => queue.done(unused),
          },
        );
      } else {
        active.handle = await this.bus.subscribe(busSubject, resolved.queue, async (message) => {
          if (active.closing || !queue.offer({ message, sub: active })) active.counters.dropped++;
        });
      }
    } catch (error) {
      this.subscriptions.delete(key);
      active.closing = true;
      this.forgetQueueIfUnused(instanceId);
      throw error;
    }
    if (active.closing) {
      // Unsubscribed (or closed) while the subscription was being made.
      await active.handle.unsubscribe();
      throw new WasmatrixError(
        ErrorCode.FAILED_PRECONDITION,
        `subscription of '${instanceId}' to '${resolved.subject}' was ended while it was being made`,
        { instanceId, subject: resolved.subject },
      );
    }
    this.logger.info(
      { instanceId, subject: resolved.subject, delivery: resolved.delivery },
      "subscriptions: instance subscribed",
    );
    return this.view(active);
  }

  /**
   * Ends an instance's subscriptions (one subject, or all). Its own durable consumer is deleted
   * with whatever it still held; a queue group's consumer stays for the group's other members.
   */
  async unsubscribe(instanceId: string, subject?: string): Promise<number> {
    const ended = [...this.subscriptions.values()].filter(
      (a) => a.instanceId === instanceId && (subject === undefined || a.spec.subject === subject),
    );
    await Promise.all(ended.map((a) => this.end(a, a.spec.queue === undefined)));
    this.forgetQueueIfUnused(instanceId);
    if (this.list(instanceId).length === 0) this.resume(instanceId);
    return ended.length;
  }

  /**
   * Holds the instance's messages while it is not running (starting, restarting after a crash):
   * nothing is invoked, waiting costs no attempt, and its queue fills and then stops pulling.
   */
  pause(instanceId: string): void {
    if (this.paused.has(instanceId)) return;
    let resume = () => {};
    const resumed = new Promise<void>((resolve) => {
      resume = resolve;
    });
    this.paused.set(instanceId, { resumed, resume });
  }

  resume(instanceId: string): void {
    this.paused.get(instanceId)?.resume();
    this.paused.delete(instanceId);
  }

  /**
   * Ends the instance's subscriptions that its (new) assignments no longer allow; call it after
   * the assignments change. Returns the subjects it ended.
   */
  async revalidate(instanceId: string, assignments: readonly CapabilityAssignment[]): Promise<string[]> {
    const ended = [...this.subscriptions.values()].filter((a) => {
      if (a.instanceId !== instanceId) return false;
      const assignment = assignments.find(
        (x) => x.capability === "messaging" && x.binding === a.spec.binding,
      );
      return (
        assignment === undefined ||
        !isAllowed(assignment.permissions, { kind: "msg", action: "subscribe", subject: a.spec.subject })
      );
    });
    await Promise.all(ended.map((a) => this.end(a, a.spec.queue === undefined)));
    this.forgetQueueIfUnused(instanceId);
    return ended.map((a) => a.spec.subject);
  }

  /** Stops every subscription and waits for invocations under way; durable consumers stay. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    await Promise.all([...this.subscriptions.values()].map((a) => this.end(a, false)));
    await Promise.all([...this.queues.values()].map((q) => q.idle()));
    this.queues.clear();
  }

  list(instanceId?: string): SubscriptionView[] {
    return [...this.subscriptions.values()]
      .filter((a) => instanceId === undefined || a.instanceId === instanceId)
      .map((a) => this.view(a));
  }

  /** Messages received and waiting for their invocation, over every instance (for the queue gauge). */
  queued(): number {
    let waiting = 0;
    for (const queue of this.queues.values()) waiting += queue.items.length;
    return waiting;
  }

  /** Counters summed over an instance's subscriptions (or all). */
  counters(instanceId?: string): SubscriptionCounters {
    const sum: SubscriptionCounters = { delivered: 0, retried: 0, deadLettered: 0, dropped: 0 };
    for (const view of this.list(instanceId)) {
      sum.delivered += view.counters.delivered;
      sum.retried += view.counters.retried;
      sum.deadLettered += view.counters.deadLettered;
      sum.dropped += view.counters.dropped;
    }
    return sum;
  }

  private async end(active: Active, deleteDurable: boolean): Promise<void> {
    active.closing = true;
    active.stop();
    this.subscriptions.delete(`${active.instanceId}\u0000${active.spec.subject}`);
    const queue = this.queues.get(active.instanceId);
    queue?.wake();
    // Messages not yet invoked go back to the server (JetStream) or are lost (core).
    for (const item of queue?.remove(active) ?? []) {
      item.message.nak();
      if (active.spec.delivery === "core") active.counters.dropped++;
    }
    const handle = active.handle;
    if (handle === null) return;
    try {
      if (deleteDurable && "remove" in handle) await handle.remove();
      else await handle.unsubscribe();
    } catch (error) {
      this.logger.warn({ err: error, instanceId: active.instanceId }, "subscriptions: unsubscribe failed");
    }
  }

  private queueOf(instanceId: string, capacity: number, concurrency: number): DeliveryQueue<Active> {
    let queue = this.queues.get(instanceId);
    if (queue === undefined) {
      queue = new DeliveryQueue<Active>(
        capacity,
        concurrency,
        (item) => this.delivery.deliver(item),
        () => this.list(instanceId).length,
      );
      this.queues.set(instanceId, queue);
    }
    // One queue serves all of an instance's subscriptions: it takes the largest bounds asked for.
    queue.capacity = Math.max(queue.capacity, capacity);
    queue.concurrency = Math.max(queue.concurrency, concurrency);
    return queue;
  }

  private forgetQueueIfUnused(instanceId: string): void {
    if (this.list(instanceId).length === 0) this.queues.delete(instanceId);
  }

  private keepAlive(): void {
    for (const queue of this.queues.values()) {
      const held = [...queue.inFlight, ...queue.items];
      for (const item of held) item.message.working();
    }
  }

  private view(active: Active): SubscriptionView {
    const queue = this.queues.get(active.instanceId);
    return {
      instanceId: active.instanceId,
      subject: active.spec.subject,
      queue: active.spec.queue ?? null,
      operation: active.spec.operation,
      delivery: active.spec.delivery,
      deadLetterSubject: active.spec.deadLetterSubject,
      queued: queue?.items.filter((i) => i.sub === active).length ?? 0,
      counters: { ...active.counters },
    };
  }
}

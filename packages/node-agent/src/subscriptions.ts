import {
  type CapabilityAssignment,
  checkPermission,
  ErrorCode,
  isAllowed,
  WasmatrixError,
} from "@wasmatrix/core";
import { type Logger, silentLogger } from "@wasmatrix/core/logger";
import type {
  DurableSink,
  DurableSubscription,
  DurableSubscriptionSpec,
  InboundMessage,
  MessageHandler,
  MessageSubscription,
} from "@wasmatrix/providers";
import type { InvokeResult } from "@wasmatrix/runtime";
import { type Delivery, DeliveryQueue } from "./delivery-queue.js";
import {
  DEFAULT_SUBSCRIPTION_ACK_WAIT_MS,
  type ResolvedSpec,
  resolveSpec,
  retryDelayMs,
  type SubscriptionSpec,
} from "./subscription-spec.js";

export * from "./subscription-spec.js";

/** Longest error text put in a dead letter's header. */
const MAX_HEADER_TEXT = 1_024;

/** What the manager needs of the node agent. */
export interface Invoker {
  invoke(instanceId: string, operation: string, payload: Uint8Array): Promise<InvokeResult>;
}

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

export interface SubscriptionCounters {
  /** Messages whose invocation succeeded. */
  delivered: number;
  /** Invocations repeated after a failure. */
  retried: number;
  /** Messages published to the dead-letter subject after their last attempt. */
  deadLettered: number;
  /** Messages lost: core delivery with a full queue, or a dead letter that could not be sent. */
  dropped: number;
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

interface Active {
  readonly instanceId: string;
  readonly spec: ResolvedSpec;
  readonly counters: SubscriptionCounters;
  handle: MessageSubscription | DurableSubscription | null;
  closing: boolean;
  /** Resolves when the subscription starts closing, to cut a backoff short. */
  readonly stopped: Promise<void>;
  stop(): void;
}

type Item = Delivery<Active>;

type Failure =
  | { kind: "guest_error"; message: string }
  | { kind: "crash"; reason: string; message: string }
  | { kind: "error"; code: ErrorCode; message: string };

const decoder = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

function envelope(message: InboundMessage): Uint8Array {
  const body: Record<string, unknown> = { subject: message.subject };
  try {
    body["data"] = decoder.decode(message.data);
  } catch {
    body["dataBase64"] = Buffer.from(message.data).toString("base64");
  }
  if (Object.keys(message.headers).length > 0) body["headers"] = message.headers;
  return encoder.encode(JSON.stringify(body));
}

/** Header values cannot hold line breaks; long texts are cut. */
function headerText(text: string): string {
  return text.replace(/[\r\n]+/g, " ").slice(0, MAX_HEADER_TEXT);
}

function failureOf(result: InvokeResult): Failure | null {
  if (result.error !== undefined) {
    return { kind: "error", code: WasmatrixError.fromData(result.error).code, message: result.error.message };
  }
  if (result.outcome.status === "crashed") {
    const { reason, trap } = result.outcome;
    return { kind: "crash", reason, message: `the instance crashed (${reason})${trap ? `: ${trap}` : ""}` };
  }
  if (result.guestError !== undefined) return { kind: "guest_error", message: result.guestError };
  return null;
}

/**
 * Delivers the messages of NATS subscriptions to instances as invocations, with a bounded queue
 * per instance, retries with exponential backoff, and a dead-letter subject for messages whose
 * every attempt failed (a guest error, a crash, or an error such as the instance not running).
 */
export class SubscriptionManager {
  private readonly subscriptions = new Map<string, Active>();
  private readonly queues = new Map<string, DeliveryQueue<Active>>();
  private readonly logger: Logger;
  private readonly ackWaitMs: number;
  private readonly heartbeat: NodeJS.Timeout;
  private closed = false;
  private readonly paused = new Map<string, { resumed: Promise<void>; resume: () => void }>();

  constructor(
    private readonly agent: Invoker,
    private readonly bus: MessageBus,
    options: SubscriptionManagerOptions = {},
  ) {
    this.logger = options.logger ?? silentLogger;
    this.ackWaitMs = options.ackWaitMs ?? DEFAULT_SUBSCRIPTION_ACK_WAIT_MS;
    // Messages held here (queued or being retried) are kept alive on the server, so a slow
    // instance does not get them delivered twice.
    this.heartbeat = setInterval(() => this.keepAlive(), Math.max(100, this.ackWaitMs / 3));
    this.heartbeat.unref();
  }

  /**
   * Subscribes an instance. `assignments` are the instance's; one messaging assignment (the
   * spec's binding) must grant `msg:subscribe:` a pattern covering the subject.
   */
  async subscribe(
    instanceId: string,
    spec: SubscriptionSpec,
    assignments: readonly CapabilityAssignment[],
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
            ? `instance/${instanceId}/${resolved.subject}`
            : `queue/${resolved.queue}/${resolved.subject}`;
        active.handle = await this.bus.subscribeDurable(
          { subject: resolved.subject, durable, ackWaitMs: this.ackWaitMs },
          {
            room: () => queue.room(active),
            accept: (message) => queue.accept({ message, sub: active }),
            done: (unused) => queue.done(unused),
          },
        );
      } else {
        active.handle = await this.bus.subscribe(resolved.subject, resolved.queue, async (message) => {
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
        (item) => this.deliver(item),
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

  /** Invokes the instance until it succeeds or the attempts run out; then acks or dead-letters. */
  private async deliver({ message, sub }: Item): Promise<void> {
    const { spec, instanceId } = sub;
    const payload = spec.payload === "raw" ? message.data : envelope(message);
    for (let attempt = 1; ; attempt++) {
      const paused = this.paused.get(instanceId);
      // Waiting for the instance to run again costs no attempt.
      if (paused !== undefined && !sub.closing) await Promise.race([paused.resumed, sub.stopped]);
      if (sub.closing) {
        message.nak();
        return;
      }
      let failure: Failure | null;
      let response: Uint8Array | undefined;
      try {
        const result = await this.agent.invoke(instanceId, spec.operation, payload);
        failure = failureOf(result);
        response = result.response;
      } catch (error) {
        const wrapped = WasmatrixError.from(error);
        failure = { kind: "error", code: wrapped.code, message: wrapped.message };
      }
      if (failure === null) {
        sub.counters.delivered++;
        message.ack();
        if (message.reply !== undefined) message.respond(response ?? new Uint8Array(0));
        return;
      }
      if (attempt >= spec.maxAttempts) {
        await this.deadLetter(sub, message, failure, attempt);
        return;
      }
      sub.counters.retried++;
      message.working();
      const delay = retryDelayMs(attempt, spec.initialBackoffMs, spec.maxBackoffMs);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        sub.stopped,
        new Promise((resolve) => {
          timer = setTimeout(resolve, delay);
        }),
      ]);
      clearTimeout(timer);
    }
  }

  private async deadLetter(sub: Active, message: InboundMessage, failure: Failure, attempts: number) {
    const headers: Record<string, string> = {
      ...message.headers,
      "Wasmatrix-Error-Kind": failure.kind,
      "Wasmatrix-Error": headerText(failure.message),
      "Wasmatrix-Attempts": String(attempts),
      "Wasmatrix-Subject": message.subject,
      "Wasmatrix-Instance": sub.instanceId,
      "Wasmatrix-Operation": sub.spec.operation,
    };
    if (failure.kind === "error") headers["Wasmatrix-Error-Code"] = failure.code;
    if (failure.kind === "crash") headers["Wasmatrix-Crash-Reason"] = failure.reason;
    try {
      await this.bus.publish(sub.spec.deadLetterSubject, message.data, headers);
      sub.counters.deadLettered++;
      message.ack();
    } catch (error) {
      this.logger.warn(
        { err: error, instanceId: sub.instanceId, subject: sub.spec.deadLetterSubject },
        "subscriptions: could not publish a dead letter",
      );
      // JetStream keeps the message and delivers it again later; core NATS cannot.
      if (sub.spec.delivery === "durable") message.nak(sub.spec.maxBackoffMs);
      else sub.counters.dropped++;
    }
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

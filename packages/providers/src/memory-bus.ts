import {
  DEFAULT_TENANT,
  ErrorCode,
  isValidSubject,
  type PermissionRequest,
  subjectCovers,
  tenantSubject,
  WasmatrixError,
} from "@wasmatrix/core";
import { type Logger, silentLogger } from "@wasmatrix/core/logger";
import type { InboundMessage, MessageHandler, MessageSubscription } from "./inbound-message.js";
import type { DurableSink } from "./jetstream-pull.js";
import { base64Field, encoder, parseObject, stringField } from "./json.js";
import type { DurableSubscription } from "./message-stream.js";
import { DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_REQUEST_TIMEOUT_MS, messagingRequired } from "./messaging.js";
import type { CapabilityProvider, ProviderCall } from "./provider.js";
import type { DurableSubscriptionSpec } from "./stream-admin.js";

/** Messages a durable consumer holds at most (waiting or handed out, not yet acknowledged). */
export const DEFAULT_BUS_MAX_PENDING = 10_000;
/** Messages a core subscription holds at most while its handler is busy. */
export const DEFAULT_BUS_MAX_QUEUED = 1_000;

export interface InProcessBusOptions {
  /** @default DEFAULT_BUS_MAX_PENDING */
  maxPending?: number;
  /** @default DEFAULT_BUS_MAX_QUEUED */
  maxQueued?: number;
  /** @default DEFAULT_MAX_MESSAGE_BYTES */
  maxMessageBytes?: number;
  /** @default DEFAULT_REQUEST_TIMEOUT_MS */
  requestTimeoutMs?: number;
  logger?: Logger;
}

interface Stored {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: Readonly<Record<string, string>>;
  deliveries: number;
}

interface CoreSub {
  readonly pattern: string;
  readonly queue: string | undefined;
  readonly handler: MessageHandler;
  readonly buffer: InboundMessage[];
  running: boolean;
  closed: boolean;
  idle: (() => void) | null;
}

/** A durable consumer: kept until removed, shared by every subscription naming it. */
interface Consumer {
  readonly pattern: string;
  readonly waiting: Stored[];
  /** Handed to a sink and not yet acknowledged. */
  unacked: number;
  wake: (() => void)[];
}

const EMPTY = new Uint8Array(0);

/**
 * `wasmatrix:messaging` inside one process, for `wasmatrix up` without NATS: the same operations
 * (publish, request) and the same host-side subscriptions as the NATS provider, so node
 * subscriptions and queue triggers work unchanged. Subjects take `*` and `>` wildcards; a queue
 * group gets each message once; a durable consumer delivers at least once (a `nak` delivers
 * again, after its delay). Memory is bounded: a durable consumer holds at most `maxPending`
 * messages and a core subscription `maxQueued`; past that new messages for it are dropped and
 * counted (`dropped`). Nothing outlives the process, and nothing is kept for a subject no one
 * consumes (JetStream's interest retention).
 */
export class InProcessBus implements CapabilityProvider {
  readonly capability = "messaging" as const;
  /** Messages dropped because a consumer or subscription was full. */
  dropped = 0;
  private readonly cores = new Set<CoreSub>();
  private readonly consumers = new Map<string, Consumer>();
  private readonly turns = new Map<string, number>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly maxPending: number;
  private readonly maxQueued: number;
  private readonly maxMessageBytes: number;
  private readonly requestTimeoutMs: number;
  private readonly logger: Logger;
  private inboxes = 0;
  private closed = false;

  constructor(options: InProcessBusOptions = {}) {
    this.maxPending = options.maxPending ?? DEFAULT_BUS_MAX_PENDING;
    this.maxQueued = options.maxQueued ?? DEFAULT_BUS_MAX_QUEUED;
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.logger = options.logger ?? silentLogger;
  }

  required(operation: string, payload: Uint8Array): PermissionRequest {
    return messagingRequired(operation, payload);
  }

  async handle(call: ProviderCall): Promise<Uint8Array> {
    const what = `messaging ${call.operation}`;
    const required = messagingRequired(call.operation, call.payload);
    const subject = tenantSubject(
      call.tenant ?? DEFAULT_TENANT,
      required.kind === "msg" ? required.subject : "",
    );
    const request = parseObject(call.payload, what);
    const bytes = base64Field(request, "dataBase64", what);
    const data =
      bytes === undefined ? encoder.encode(stringField(request, "data", what)) : new Uint8Array(bytes);
    this.checkSize(data, what);
    if (call.operation === "publish") {
      await this.publish(subject, data);
      return EMPTY;
    }
    const asked = request["timeoutMs"];
    if (asked !== undefined && (typeof asked !== "number" || !(asked > 0))) {
      throw new WasmatrixError(ErrorCode.INVALID_REQUEST, `${what}: 'timeoutMs' must be a positive number`);
    }
    const timeout = Math.max(1, Math.floor(Math.min(asked ?? this.requestTimeoutMs, call.remainingMs)));
    return this.request(subject, data, timeout);
  }

  /** Delivers to every matching subscription (one member per queue group) and durable consumer. */
  async publish(
    subject: string,
    data: Uint8Array,
    headers: Readonly<Record<string, string>> = {},
  ): Promise<void> {
    this.route(subject, data, headers, undefined);
  }

  /** Sends to the core subscribers and resolves with the first answer. */
  async request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    const what = `messaging request on '${subject}'`;
    return new Promise<Uint8Array>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new WasmatrixError(ErrorCode.TIMEOUT, `${what}: no answer within ${timeoutMs} ms`, { subject }),
        );
      }, timeoutMs);
      const reply = `_INBOX.${++this.inboxes}`;
      const answered = (answer: Uint8Array) => {
        clearTimeout(timer);
        resolve(answer);
      };
      if (this.route(subject, data, {}, { reply, answer: answered }) === 0) {
        clearTimeout(timer);
        reject(
          new WasmatrixError(
            ErrorCode.PROVIDER_UNAVAILABLE,
            `${what}: no one is subscribed to answer this request`,
            {
              subject,
            },
          ),
        );
      }
    });
  }

  async subscribe(
    subject: string,
    queue: string | undefined,
    handler: MessageHandler,
  ): Promise<MessageSubscription> {
    this.assertPattern(subject);
    const sub: CoreSub = {
      pattern: subject,
      queue,
      handler,
      buffer: [],
      running: false,
      closed: false,
      idle: null,
    };
    this.cores.add(sub);
    let end = () => {};
    const closed = new Promise<void>((resolve) => {
      end = resolve;
    });
    return {
      subject,
      queue,
      closed,
      unsubscribe: async () => {
        this.cores.delete(sub);
        sub.closed = true;
        sub.buffer.length = 0;
        if (sub.running) await new Promise<void>((resolve) => (sub.idle = resolve));
        end();
      },
    };
  }

  async subscribeDurable(spec: DurableSubscriptionSpec, sink: DurableSink): Promise<DurableSubscription> {
    this.assertPattern(spec.subject);
    let consumer = this.consumers.get(spec.durable);
    if (consumer === undefined) {
      consumer = { pattern: spec.subject, waiting: [], unacked: 0, wake: [] };
      this.consumers.set(spec.durable, consumer);
    } else if (consumer.pattern !== spec.subject) {
      throw new WasmatrixError(
        ErrorCode.FAILED_PRECONDITION,
        `messaging: durable '${spec.durable}' already consumes '${consumer.pattern}'`,
        { durable: spec.durable, subject: spec.subject },
      );
    }
    const own = consumer;
    let stopped = false;
    const halt = () => {
      stopped = true;
      for (const wake of own.wake.splice(0)) wake();
    };
    const loop = async () => {
      while (!stopped && !this.closed) {
        const room = await sink.room();
        if (room <= 0 || stopped) {
          sink.done(Math.max(0, room));
          break;
        }
        while (own.waiting.length === 0 && !stopped)
          await new Promise<void>((resolve) => own.wake.push(resolve));
        let taken = 0;
        while (!stopped && taken < room && own.waiting.length > 0) {
          const stored = own.waiting.shift()!;
          stored.deliveries++;
          own.unacked++;
          sink.accept(this.durableMessage(own, stored));
          taken++;
        }
        sink.done(room - taken);
      }
    };
    const ended = loop();
    const subscription: DurableSubscription = {
      subject: spec.subject,
      queue: spec.durable,
      consumer: spec.durable,
      closed: ended,
      unsubscribe: async () => {
        halt();
        await ended;
      },
      remove: async () => {
        halt();
        await ended;
        this.consumers.delete(spec.durable);
      },
    };
    return subscription;
  }

  /** Durable consumers and what each holds: for tests and `inspect`. */
  pending(durable: string): { waiting: number; unacked: number } | undefined {
    const consumer = this.consumers.get(durable);
    return consumer === undefined
      ? undefined
      : { waiting: consumer.waiting.length, unacked: consumer.unacked };
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const consumer of this.consumers.values()) for (const wake of consumer.wake.splice(0)) wake();
    for (const sub of this.cores) sub.closed = true;
    this.cores.clear();
  }

  /** Returns how many core subscriptions got the message. */
  private route(
    subject: string,
    data: Uint8Array,
    headers: Readonly<Record<string, string>>,
    request: { reply: string; answer: (data: Uint8Array) => void } | undefined,
  ): number {
    if (!isValidSubject(subject)) {
      throw new WasmatrixError(
        ErrorCode.INVALID_REQUEST,
        `messaging: '${subject.slice(0, 200)}' is not a subject`,
        {
          subject: subject.slice(0, 200),
        },
      );
    }
    this.checkSize(data, `messaging publish on '${subject}'`);
    let delivered = 0;
    const groups = new Map<string, CoreSub[]>();
    for (const sub of this.cores) {
      if (!subjectCovers(sub.pattern, subject)) continue;
      if (sub.queue === undefined) delivered += this.offer(sub, subject, data, headers, request);
      else groups.set(sub.queue, [...(groups.get(sub.queue) ?? []), sub]);
    }
    for (const [queue, members] of groups) {
      const turn = this.turns.get(queue) ?? 0;
      this.turns.set(queue, turn + 1);
      delivered += this.offer(members[turn % members.length]!, subject, data, headers, request);
    }
    // A request is answered by core subscribers only (JetStream keeps no reply subjects either).
    if (request !== undefined) return delivered;
    for (const consumer of this.consumers.values()) {
      if (!subjectCovers(consumer.pattern, subject)) continue;
      if (consumer.waiting.length + consumer.unacked >= this.maxPending) {
        this.dropped++;
        this.logger.warn(
          { subject, pattern: consumer.pattern },
          "messaging: in-process consumer full, message dropped",
        );
        continue;
      }
      consumer.waiting.push({ subject, data, headers, deliveries: 0 });
      for (const wake of consumer.wake.splice(0)) wake();
    }
    return delivered;
  }

  private offer(
    sub: CoreSub,
    subject: string,
    data: Uint8Array,
    headers: Readonly<Record<string, string>>,
    request: { reply: string; answer: (data: Uint8Array) => void } | undefined,
  ): number {
    if (sub.buffer.length >= this.maxQueued) {
      this.dropped++;
      return 0;
    }
    let answered = false;
    sub.buffer.push({
      subject,
      data,
      headers,
      reply: request?.reply,
      deliveryCount: 1,
      ack: () => undefined,
      nak: () => undefined,
      working: () => undefined,
      respond: (answer) => {
        if (request === undefined || answered) return false;
        answered = true;
        request.answer(answer);
        return true;
      },
    });
    void this.drain(sub);
    return 1;
  }

  /** Runs a core subscription's handler for one message at a time, in arrival order. */
  private async drain(sub: CoreSub): Promise<void> {
    if (sub.running) return;
    sub.running = true;
    for (
      let message = sub.buffer.shift();
      message !== undefined && !sub.closed;
      message = sub.buffer.shift()
    ) {
      try {
        await sub.handler(message);
      } catch (error) {
        this.logger.warn({ err: error, subject: message.subject }, "messaging: subscription handler failed");
      }
    }
    sub.running = false;
    sub.idle?.();
  }

  private durableMessage(consumer: Consumer, stored: Stored): InboundMessage {
    let settled = false;
    const settle = () => {
      if (settled) return false;
      settled = true;
      consumer.unacked--;
      return true;
    };
    return {
      subject: stored.subject,
      data: stored.data,
      headers: stored.headers,
      reply: undefined,
      deliveryCount: stored.deliveries,
      ack: () => void settle(),
      nak: (delayMs = 0) => {
        if (!settle() || this.closed) return;
        const requeue = () => {
          consumer.waiting.unshift(stored);
          for (const wake of consumer.wake.splice(0)) wake();
        };
        if (delayMs <= 0) return requeue();
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          requeue();
        }, delayMs);
        timer.unref();
        this.timers.add(timer);
      },
      working: () => undefined,
      respond: () => false,
    };
  }

  private assertPattern(subject: string): void {
    if (!isValidSubject(subject, true)) {
      throw new WasmatrixError(
        ErrorCode.INVALID_REQUEST,
        `messaging: '${subject}' is not a subject pattern`,
        {
          subject,
        },
      );
    }
  }

  private checkSize(data: Uint8Array, what: string): void {
    if (data.byteLength > this.maxMessageBytes) {
      throw new WasmatrixError(
        ErrorCode.RESOURCE_EXHAUSTED,
        `${what}: message of ${data.byteLength} bytes exceeds the cap of ${this.maxMessageBytes}`,
        { sizeBytes: data.byteLength, maxBytes: this.maxMessageBytes },
      );
    }
  }
}

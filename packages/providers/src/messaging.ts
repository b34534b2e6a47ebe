import {
  DEFAULT_TENANT,
  ErrorCode,
  isValidSubject,
  MAX_SUBJECT_LENGTH,
  type PermissionRequest,
  tenantSubject,
  WasmatrixError,
} from "@wasmatrix/core";
import { type Logger, silentLogger } from "@wasmatrix/core/logger";
import { createInbox, type Msg, type MsgHdrs, headers as natsHeaders, type RequestOptions } from "nats";
import {
  headerValues,
  type InboundMessage,
  type MessageHandler,
  type MessageSubscription,
} from "./inbound-message.js";
import type { DurableSink } from "./jetstream-pull.js";
import { base64Field, encoder, parseObject, stringField } from "./json.js";
import { type DurableSubscription, MessageStream } from "./message-stream.js";
import { natsFailure } from "./nats-errors.js";
import { NatsLink, type NatsLinkOptions } from "./nats-link.js";
import type { CapabilityProvider, ProviderCall } from "./provider.js";
import type { DurableSubscriptionSpec, MessageStreamOptions } from "./stream-admin.js";

/** Operations of `wasmatrix:messaging`; each needs `msg:publish:<subject>` (see docs/abi.md). */
export const MESSAGING_OPERATIONS = ["publish", "request"] as const;
export type MessagingOperation = (typeof MESSAGING_OPERATIONS)[number];

/** A request's timeout when the guest names none (the invocation's deadline still applies). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 5_000;
/** Largest message a guest may publish or receive as an answer; NATS's own default max_payload. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024;

export interface MessagingProviderOptions {
  /** A connection to share with other providers; or `nats` to open one of its own. */
  link?: NatsLink;
  nats?: NatsLinkOptions;
  /** @default DEFAULT_REQUEST_TIMEOUT_MS */
  requestTimeoutMs?: number;
  /** @default DEFAULT_MAX_MESSAGE_BYTES */
  maxMessageBytes?: number;
  /** Where durable subscriptions keep their messages. */
  stream?: MessageStreamOptions;
  logger?: Logger;
}

export {
  headerValues,
  type InboundMessage,
  type MessageHandler,
  type MessageSubscription,
} from "./inbound-message.js";

const EMPTY = new Uint8Array(0);

function isOperation(operation: string): operation is MessagingOperation {
  return (MESSAGING_OPERATIONS as readonly string[]).includes(operation);
}

/**
 * `wasmatrix:messaging` on NATS. Guests publish and make requests; receiving is host-side
 * (`subscribe` for core NATS, `subscribeDurable` for JetStream), driven by the node agent's
 * subscriptions, which turn each message into an invocation.
 *
 * A call made while NATS is down waits for a reconnection at most `unavailableAfterMs` (or what
 * is left of the guest's deadline, if less) and then fails with PROVIDER_UNAVAILABLE; the
 * guest's instance keeps running.
 */
export class MessagingProvider implements CapabilityProvider {
  readonly capability = "messaging" as const;
  readonly link: NatsLink;
  private readonly ownsLink: boolean;
  private readonly requestTimeoutMs: number;
  private readonly maxMessageBytes: number;
  private readonly logger: Logger;
  private readonly subscriptions = new Set<MessageSubscription>();
  private stream: MessageStream | null = null;

  constructor(private readonly options: MessagingProviderOptions) {
    if (options.link === undefined && options.nats === undefined) {
      throw new WasmatrixError(ErrorCode.INVALID_REQUEST, "messaging: give a NATS link or `nats` options");
    }
    this.ownsLink = options.link === undefined;
    this.link = options.link ?? new NatsLink(options.nats!);
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.logger = options.logger ?? silentLogger;
  }

  required(operation: string, payload: Uint8Array): PermissionRequest {
    return messagingRequired(operation, payload);
  }

  async handle(call: ProviderCall): Promise<Uint8Array> {
    const what = `messaging ${call.operation}`;
    if (!isOperation(call.operation)) this.required(call.operation, call.payload);
    const request = parseObject(call.payload, what);
    const tenant = call.tenant ?? DEFAULT_TENANT;
    const subject = tenantSubject(tenant, this.subject(request, call.operation));
    const data = this.data(request, what);
    const waitMs = Math.min(call.remainingMs, this.link.unavailableAfterMs);
    if (call.operation === "publish") {
      await this.publish(subject, data, {}, waitMs);
      return EMPTY;
    }
    const asked = request["timeoutMs"];
    if (asked !== undefined && (typeof asked !== "number" || !(asked > 0))) {
      throw new WasmatrixError(ErrorCode.INVALID_REQUEST, `${what}: 'timeoutMs' must be a positive number`);
    }
    const timeout = Math.max(1, Math.floor(Math.min(asked ?? this.requestTimeoutMs, call.remainingMs)));
    await this.link.connection(waitMs);
    try {
      // The client's own timeout, a millisecond early, so that a silent responder is reported
      // by it (TIMEOUT) rather than by the guard.
      const reply = await this.link.guard(
        what,
        timeout + 1,
        (nats) => nats.send("request", (nc) => nc.request(subject, data, replyOptions(tenant, timeout))),
        waitMs,
      );
      if (reply.data.byteLength > this.maxMessageBytes) {
        throw new WasmatrixError(
          ErrorCode.RESOURCE_EXHAUSTED,
          `${what}: the answer from '${subject}' is ${reply.data.byteLength} bytes; the cap is ${this.maxMessageBytes}`,
          { subject, sizeBytes: reply.data.byteLength, maxBytes: this.maxMessageBytes },
        );
      }
      return reply.data;
    } catch (error) {
      throw natsFailure(error, `${what} on '${subject}'`, this.link);
    }
  }

  /**
   * Publishes and waits until the server has it (a flush), so a failure is reported, not lost
   * in the client's buffer. Core NATS is at-most-once: a message no one subscribes to is gone.
   */
  async publish(
    subject: string,
    data: Uint8Array,
    headers: Readonly<Record<string, string>> = {},
    waitMs = this.link.unavailableAfterMs,
  ): Promise<void> {
    await this.link.connection(waitMs);
    const names = Object.keys(headers);
    let hdrs: MsgHdrs | undefined;
    if (names.length > 0) {
      hdrs = natsHeaders();
      for (const name of names) hdrs.set(name, headers[name]!);
    }
    const what = `messaging publish on '${subject}'`;
    try {
      await this.link.guard(
        what,
        Math.max(1, waitMs),
        (nats) =>
          nats.send("write", async (nc) => {
            nc.publish(subject, data, hdrs === undefined ? undefined : { headers: hdrs });
            await nc.flush();
          }),
        waitMs,
      );
    } catch (error) {
      throw natsFailure(error, what, this.link);
    }
  }

  /**
   * A core NATS subscription (at most once: what arrives while nobody is subscribed, or while
   * the connection is down, is not delivered). The handler runs for one message at a time, in
   * arrival order; messages arriving meanwhile wait in the client's memory, since core NATS has
   * no flow control. With a `queue`, each message goes to one member of the group. Resolves
   * once the server has the subscription.
   */
  async subscribe(
    subject: string,
    queue: string | undefined,
    handler: MessageHandler,
  ): Promise<MessageSubscription> {
    if (!isValidSubject(subject, true)) {
      throw new WasmatrixError(
        ErrorCode.INVALID_REQUEST,
        `messaging: '${subject}' is not a subject pattern`,
        {
          subject,
        },
      );
    }
    const nc = await this.link.connection();
    const sub = nc.subscribe(subject, queue === undefined ? {} : { queue });
    try {
      // Resolve once the server has the subscription: what is published after that arrives.
      await this.link.guard(`messaging subscribe to '${subject}'`, this.link.unavailableAfterMs, (nats) =>
        nats.send("read", (connection) => connection.flush()),
      );
    } catch (error) {
      sub.unsubscribe();
      throw natsFailure(error, `messaging subscribe to '${subject}'`, this.link);
    }
    const closed = (async () => {
      for await (const msg of sub) {
        try {
          await handler(inbound(msg));
        } catch (error) {
          this.logger.warn({ err: error, subject: msg.subject }, "messaging: subscription handler failed");
        }
      }
    })();
    const subscription: MessageSubscription = {
      subject,
      queue,
      closed: closed.finally(() => this.subscriptions.delete(subscription)),
      unsubscribe: async () => {
        sub.unsubscribe();
        await subscription.closed;
      },
    };
    this.subscriptions.add(subscription);
    return subscription;
  }

  /**
   * A JetStream subscription (at least once, with flow control): see `MessageStream`. Messages
   * stay on the server until the sink acknowledges them.
   */
  async subscribeDurable(spec: DurableSubscriptionSpec, sink: DurableSink): Promise<DurableSubscription> {
    this.stream ??= new MessageStream(this.link, this.options.stream, this.logger);
    return this.stream.subscribe(spec, sink);
  }

  async close(): Promise<void> {
    await Promise.all([...this.subscriptions].map((s) => s.unsubscribe()));
    await this.stream?.close();
    if (this.ownsLink) await this.link.close();
  }

  private subject(request: Record<string, unknown>, operation: string): string {
    return subjectOf(request, operation);
  }

  private data(request: Record<string, unknown>, what: string): Uint8Array {
    const bytes = base64Field(request, "dataBase64", what);
    const data =
      bytes === undefined ? encoder.encode(stringField(request, "data", what)) : new Uint8Array(bytes);
    if (data.byteLength > this.maxMessageBytes) {
      throw new WasmatrixError(
        ErrorCode.RESOURCE_EXHAUSTED,
        `${what}: message of ${data.byteLength} bytes exceeds the cap of ${this.maxMessageBytes}`,
        { sizeBytes: data.byteLength, maxBytes: this.maxMessageBytes },
      );
    }
    return data;
  }
}

/**
 * A tenant's answers come back on an inbox in its own space (`_TENANT.<name>._INBOX.<id>`), not
 * on the shared `_INBOX.`, where a default-tenant subscriber to `>` would see them. The default
 * tenant keeps the client's shared inbox.
 */
function replyOptions(tenant: string, timeout: number): RequestOptions {
  if (tenant === DEFAULT_TENANT) return { timeout };
  return { timeout, noMux: true, reply: tenantSubject(tenant, createInbox()) };
}

function inbound(msg: Msg): InboundMessage {
  return {
    subject: msg.subject,
    data: msg.data,
    headers: headerValues(msg.headers),
    reply: msg.reply === undefined || msg.reply === "" ? undefined : msg.reply,
    deliveryCount: 1,
    ack: () => undefined,
    nak: () => undefined,
    working: () => undefined,
    respond: (data) => msg.respond(data),
  };
}

/** The permission a messaging call needs (a pure function: the node checks it before any provider runs). */
export function messagingRequired(operation: string, payload: Uint8Array): PermissionRequest {
  if (!isOperation(operation)) {
    throw new WasmatrixError(
      ErrorCode.INVALID_REQUEST,
      `messaging has no operation '${operation}'; use one of ${MESSAGING_OPERATIONS.join(", ")}`,
      { operation },
    );
  }
  return {
    kind: "msg",
    action: "publish",
    subject: subjectOf(parseObject(payload, `messaging ${operation}`), operation),
  };
}

function subjectOf(request: Record<string, unknown>, operation: string): string {
  const subject = stringField(request, "subject", `messaging ${operation}`);
  if (!isValidSubject(subject)) {
    throw new WasmatrixError(
      ErrorCode.INVALID_REQUEST,
      `messaging ${operation}: '${subject.slice(0, MAX_SUBJECT_LENGTH)}' is not a subject (dot-separated tokens, no wildcards)`,
      { subject: subject.slice(0, MAX_SUBJECT_LENGTH) },
    );
  }
  return subject;
}

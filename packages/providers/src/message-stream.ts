import { ErrorCode, isValidSubject, subjectCovers, WasmatrixError } from "@wasmatrix/core";
import type { Logger } from "@wasmatrix/core/logger";
import {
  AckPolicy,
  type Consumer,
  type ConsumerMessages,
  DeliverPolicy,
  DiscardPolicy,
  type JsMsg,
  nanos,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
  type Subscription,
} from "nats";
import { headerValues, type InboundMessage, type MessageSubscription } from "./inbound-message.js";
import { JetStreamErrCode, jetStreamErrCode, natsFailure } from "./nats-errors.js";
import type { NatsLink } from "./nats-link.js";
import { natsName } from "./nats-names.js";

export const DEFAULT_MESSAGE_STREAM = "WASMATRIX_MESSAGES";
/** Bytes the stream keeps for subscribers that lag; past it, the oldest messages go first. */
export const DEFAULT_STREAM_MAX_BYTES = 1024 * 1024 * 1024;
/** A delivered message not acknowledged (or marked `working`) within this is delivered again. */
export const DEFAULT_ACK_WAIT_MS = 30_000;
/** A durable consumer nobody has pulled from for this long is deleted by the server. */
export const DEFAULT_INACTIVE_THRESHOLD_MS = 24 * 60 * 60 * 1000;
/** How long one pull request waits on the server for messages before it is renewed. */
export const DEFAULT_FETCH_EXPIRES_MS = 5_000;
export const DEFAULT_MAX_ACK_PENDING = 10_000;
/** Pause before re-attaching to a consumer after a failure (NATS down, consumer gone). */
const REATTACH_DELAY_MS = 500;
/** Attempts at making the stream's subjects cover a new subscription, racing other nodes. */
const SUBJECT_UPDATE_ATTEMPTS = 5;
/** `subjects overlap with an existing stream` */
const SUBJECTS_OVERLAP = 10065;
/** `stream name already in use with a different configuration` */
const STREAM_NAME_IN_USE = 10058;

export interface MessageStreamOptions {
  /** @default DEFAULT_MESSAGE_STREAM */
  name?: string;
  /** @default DEFAULT_STREAM_MAX_BYTES */
  maxBytes?: number;
  /** JetStream replicas (1, 3 or 5). @default 1 */
  replicas?: number;
  /** @default DEFAULT_INACTIVE_THRESHOLD_MS */
  inactiveThresholdMs?: number;
}

export interface DurableSubscriptionSpec {
  /** A subject or pattern (`*` one token, `>` the rest). */
  subject: string;
  /**
   * Who is subscribing, in any text: subscribing again with the same durable resumes where the
   * last one stopped. Subscriptions sharing a durable share its messages (a queue group).
   */
  durable: string;
  /** @default DEFAULT_ACK_WAIT_MS */
  ackWaitMs?: number;
  /** Messages delivered and not yet acknowledged, across everyone sharing the durable. @default 10 000 */
  maxAckPending?: number;
}

/**
 * Where a durable subscription puts its messages. The subscription asks for room before every
 * pull and never pulls more than it was given, so every message it has taken from the server is
 * in the sink, where the sink can keep it alive (`working`) until it is acknowledged. Once the
 * subscription is stopped the sink gets nothing more: what still comes in goes back to the
 * server at once (`nak`) for the next subscriber.
 */
export interface DurableSink {
  /** Resolves with how many messages the sink can take now (waiting until it can take some); 0 to stop. */
  room(): Promise<number>;
  /** Takes one message; must not block. */
  accept(message: InboundMessage): void;
  /** The pull that `room` was asked for has ended with `unused` of its room not filled. */
  done(unused: number): void;
}

export interface DurableSubscription extends MessageSubscription {
  /** The JetStream consumer's name. */
  readonly consumer: string;
  /** Unsubscribes and deletes the durable consumer with any messages it still had to deliver. */
  remove(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// subjects: a stream's subjects may not overlap one another, so the stream keeps a set of
// patterns that covers every subscription and in which no two patterns overlap.

/** Whether some concrete subject matches both patterns. */
export function subjectsOverlap(a: string, b: string): boolean {
  const x = a.split(".");
  const y = b.split(".");
  for (let i = 0; ; i++) {
    const s = x[i];
    const t = y[i];
    if (s === undefined || t === undefined) return s === t;
    if (s === ">") return true;
    if (t === ">") return true;
    if (s !== "*" && t !== "*" && s !== t) return false;
  }
}

/** The narrowest token-wise pattern covering two overlapping patterns. */
function generalize(a: string, b: string): string {
  const x = a.split(".");
  const y = b.split(".");
  const out: string[] = [];
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const s = x[i];
    const t = y[i];
    if (s === ">" || t === ">" || s === undefined || t === undefined) {
      out.push(">");
      break;
    }
    out.push(s === t ? s : "*");
  }
  return out.join(".");
}

/**
 * Adds `wanted` to a set of non-overlapping patterns: unchanged when one already covers it,
 * else `wanted` merged with every pattern it overlaps, widened token by token (`a.*.c` and
 * `a.b.*` become `a.*.*`). Widening costs nothing but storage of messages that match a widened
 * pattern and no consumer: the stream keeps messages only while a consumer is interested.
 */
export function coverSubjects(existing: readonly string[], wanted: string): string[] {
  if (existing.some((s) => subjectCovers(s, wanted))) return [...existing];
  let rest = [...existing];
  let add = wanted;
  for (;;) {
    const overlapping = rest.filter((s) => subjectsOverlap(s, add));
    if (overlapping.length === 0) return [...rest, add];
    rest = rest.filter((s) => !overlapping.includes(s));
    for (const s of overlapping) add = generalize(add, s);
  }
}

// ---------------------------------------------------------------------------------------------

/**
 * Durable subscriptions on one JetStream stream. The stream captures the subjects subscribed
 * to (interest retention: a message is kept until every consumer whose filter matches it has
 * acknowledged it, and not at all when none matches); each subscription is a durable pull
 * consumer filtered on its subject. The guarantee is at least once: a message is delivered
 * again if it is not acknowledged within the ack wait, e.g. because its node died.
 *
 * The stream sets `no_ack`, so it never answers a publish that carries a reply subject: core
 * requests on captured subjects still reach their real responders. It does not keep reply
 * subjects, so a durable subscriber cannot answer requests; use a core `subscribe` for that.
 *
 * Subjects are only ever added to the stream (a node cannot know whether another still needs
 * one); an unused one costs nothing. Nodes adding subjects at the same moment can undo each
 * other's update, so every (re)attachment checks its subject is still captured.
 */
export class MessageStream {
  readonly name: string;
  private readonly subscriptions = new Set<DurableSubscription>();
  private updating: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly link: NatsLink,
    private readonly options: MessageStreamOptions = {},
    private readonly logger: Logger,
  ) {
    this.name = options.name ?? DEFAULT_MESSAGE_STREAM;
  }

  /**
   * Creates (or resumes) the durable consumer and pulls its messages into `sink`, never more than
   * the sink has room for: while it is full nothing is pulled and messages wait in the stream, on
   * the server's disk. The sink must `ack` (or `nak`) each message itself.
   */
  async subscribe(spec: DurableSubscriptionSpec, sink: DurableSink): Promise<DurableSubscription> {
    if (!isValidSubject(spec.subject, true)) {
      throw new WasmatrixError(
        ErrorCode.INVALID_REQUEST,
        `messaging: '${spec.subject}' is not a subject pattern`,
        { subject: spec.subject },
      );
    }
    const name = natsName("wasmatrix", spec.durable);
    await this.attach(spec, name);
    let stopped = false;
    let halt = () => {};
    const halted = new Promise<void>((resolve) => {
      halt = resolve;
    });
    let pull: Pull | null = null;
    const acks = new AckBatch();
    // While NATS is down the server has forgotten the pull with the connection: nothing to wait for.
    const endPull = (p: Pull) => p.end(this.link.connected ? this.link.unavailableAfterMs : 0);
    const run = async () => {
      let consumer: Consumer | null = null;
      while (!stopped) {
        let room = 0;
        const late: JsMsg[] = [];
        try {
          if (consumer === null) {
            const js = await this.link.jetstream();
            consumer = await js.consumers.get(this.name, name);
          }
          room = await Promise.race([
            sink.room().then((granted) => {
              // Granted after the subscription stopped: hand it straight back.
              if (stopped && granted > 0) sink.done(granted);
              return granted;
            }),
            halted.then(() => 0),
          ]);
          if (stopped || room <= 0) break;
          pull = new Pull(await consumer.fetch({ max_messages: room, expires: DEFAULT_FETCH_EXPIRES_MS }));
          if (stopped) endPull(pull);
          for await (const m of pull.messages) {
            pull.heard();
            if (stopped) late.push(m);
            else {
              room--;
              sink.accept(inbound(m, acks));
            }
          }
        } catch (error) {
          if (stopped) break;
          consumer = null;
          this.logger.warn(
            { err: error, consumer: name },
            "messaging: durable subscription interrupted; re-attaching",
          );
          await new Promise((resolve) => setTimeout(resolve, REATTACH_DELAY_MS));
          // The consumer may be gone (deleted, or expired while nobody pulled): make it again.
          await this.attach(spec, name).catch(() => undefined);
        } finally {
          pull?.over();
          pull = null;
          if (room > 0) sink.done(room);
          // Came in after the stop, so nobody here will handle them; left alone they would count
          // as delivered until the ack wait ran out. Naked only once the pull is over, else the
          // server would offer them straight back to it rather than to the next pull.
          for (const m of late) m.nak();
        }
      }
    };
    const stop = async () => {
      if (!stopped) {
        stopped = true;
        halt();
        if (pull !== null) endPull(pull);
      }
      await subscription.closed;
      acks.flush();
    };
    const subscription: DurableSubscription = {
      subject: spec.subject,
      queue: spec.durable,
      consumer: name,
      closed: run().finally(() => this.subscriptions.delete(subscription)),
      unsubscribe: stop,
      remove: async () => {
        await stop();
        const jsm = await this.link.jetstreamManager();
        try {
          await jsm.consumers.delete(this.name, name);
        } catch (error) {
          if (jetStreamErrCode(error) !== JetStreamErrCode.CONSUMER_NOT_FOUND) {
            throw natsFailure(error, `messaging: deleting consumer ${name}`, this.link, "jetstream");
          }
        }
      },
    };
    this.subscriptions.add(subscription);
    return subscription;
  }

  /** Stops every subscription; their durable consumers stay for the next subscriber. */
  async close(): Promise<void> {
    await Promise.all([...this.subscriptions].map((s) => s.unsubscribe()));
  }

  private async attach(spec: DurableSubscriptionSpec, consumer: string): Promise<void> {
    // One update at a time from this process; other nodes are handled by re-checking.
    const update = this.updating.then(() => this.captureSubject(spec.subject));
    this.updating = update.catch(() => undefined);
    await update;
    const jsm = await this.link.jetstreamManager();
    const what = `messaging: consumer for '${spec.subject}'`;
    try {
      const info = await jsm.consumers.info(this.name, consumer);
      if (info.config.filter_subject !== spec.subject) {
        throw new WasmatrixError(
          ErrorCode.FAILED_PRECONDITION,
          `${what}: durable '${spec.durable}' already consumes '${info.config.filter_subject}'`,
          { durable: spec.durable, subject: spec.subject },
        );
      }
      return;
    } catch (error) {
      if (jetStreamErrCode(error) !== JetStreamErrCode.CONSUMER_NOT_FOUND) {
        throw natsFailure(error, what, this.link, "jetstream");
      }
    }
    try {
      await jsm.consumers.add(this.name, {
        durable_name: consumer,
        filter_subject: spec.subject,
        ack_policy: AckPolicy.Explicit,
        ack_wait: nanos(spec.ackWaitMs ?? DEFAULT_ACK_WAIT_MS),
        // A new subscriber starts with what is published from now on, not with messages the
        // stream still holds for other subscribers.
        deliver_policy: DeliverPolicy.New,
        max_deliver: -1,
        max_ack_pending: spec.maxAckPending ?? DEFAULT_MAX_ACK_PENDING,
        inactive_threshold: nanos(this.options.inactiveThresholdMs ?? DEFAULT_INACTIVE_THRESHOLD_MS),
      });
    } catch (error) {
      throw natsFailure(error, what, this.link, "jetstream");
    }
  }

  private async captureSubject(subject: string): Promise<void> {
    const jsm = await this.link.jetstreamManager();
    const what = `messaging: stream ${this.name}`;
    for (let attempt = 0; attempt < SUBJECT_UPDATE_ATTEMPTS; attempt++) {
      let config: StreamConfig | null = null;
      try {
        config = (await jsm.streams.info(this.name)).config;
      } catch (error) {
        if (jetStreamErrCode(error) !== JetStreamErrCode.STREAM_NOT_FOUND) {
          throw natsFailure(error, what, this.link, "jetstream");
        }
      }
      const current = config?.subjects ?? [];
      if (current.some((s) => subjectCovers(s, subject))) return;
      const subjects = coverSubjects(current, subject);
      try {
        if (config === null) await jsm.streams.add(this.streamConfig(subjects));
        else await jsm.streams.update(this.name, { ...config, subjects });
      } catch (error) {
        const code = jetStreamErrCode(error);
        if (code === SUBJECTS_OVERLAP) {
          throw new WasmatrixError(
            ErrorCode.FAILED_PRECONDITION,
            `messaging: cannot subscribe durably to '${subject}': another JetStream stream already stores subjects it covers (${subjects.join(", ")})`,
            { subject },
            { cause: error },
          );
        }
        // Another node created the stream first: read it and try again.
        if (code !== STREAM_NAME_IN_USE) throw natsFailure(error, what, this.link, "jetstream");
      }
    }
    throw new WasmatrixError(
      ErrorCode.INTERNAL,
      `${what}: could not add '${subject}' to the stream's subjects after ${SUBJECT_UPDATE_ATTEMPTS} attempts`,
      { subject },
    );
  }

  private streamConfig(subjects: string[]): Partial<StreamConfig> {
    return {
      name: this.name,
      subjects,
      retention: RetentionPolicy.Interest,
      storage: StorageType.File,
      no_ack: true,
      max_bytes: this.options.maxBytes ?? DEFAULT_STREAM_MAX_BYTES,
      discard: DiscardPolicy.Old,
      num_replicas: this.options.replicas ?? 1,
    };
  }
}

/** A stopping subscription ends its pull once no message has come in for this long (see `Pull`)… */
const PULL_QUIET_MS = 50;
/** …or after this long, if messages keep coming. */
const PULL_QUIET_MAX_MS = 1_000;

/**
 * One pull request (a nats.js fetch), and how a stopping subscription ends it early without
 * stranding messages. Stopping the fetch unsubscribes its inbox at once, but the server keeps
 * the request until it expires and may have sent messages to it already, or still send some (an
 * unsubscription and a publish on another connection race each other in the server): the
 * client drops them, and the server counts them as delivered, holding them back from every
 * other subscriber until the ack wait runs out.
 *
 * So the inbox is drained instead (unsubscribe, then a ping): it stays open until the server
 * has confirmed the unsubscription, after which the server drops the request for want of
 * interest, and what it sent before comes in ahead of the pong, for the subscription to nak.
 * That costs one round trip. The pull is first left to go quiet, because nats-server 2.9 loses
 * track of a message it is sending at the moment it learns the inbox is gone (neither delivered
 * nor offered again until the ack wait), which is likely only in the middle of a burst. A
 * connection that does not answer within `waitMs` (0 while it is down: the server forgets the
 * inbox with it) ends the pull the plain way.
 *
 * The inbox is the `sub` field of nats.js's fetch iterator (`PullConsumerMessagesImpl`, 2.x),
 * which its public interface leaves out; without it the pull just stops. Once drained, the
 * iterator ends by itself after the messages that came before.
 */
class Pull {
  private lastHeard = Date.now();
  private done = false;
  private ending = false;

  constructor(readonly messages: ConsumerMessages) {}

  /** A message came in. */
  heard(): void {
    this.lastHeard = Date.now();
  }

  /** The iterator has ended. */
  over(): void {
    this.done = true;
  }

  end(waitMs: number): void {
    if (this.ending) return;
    this.ending = true;
    void this.wind(waitMs);
  }

  private async wind(waitMs: number): Promise<void> {
    const inbox = (this.messages as ConsumerMessages & { sub?: Partial<Subscription> }).sub;
    let drained = false;
    if (waitMs > 0 && typeof inbox?.drain === "function") {
      const giveUp = Date.now() + PULL_QUIET_MAX_MS;
      for (;;) {
        const now = Date.now();
        const quietFor = now - this.lastHeard;
        if (this.done || quietFor >= PULL_QUIET_MS || now >= giveUp) break;
        await new Promise((resolve) => setTimeout(resolve, Math.min(PULL_QUIET_MS - quietFor, giveUp - now)));
      }
      if (!this.done && inbox.isClosed?.() === false) {
        let timer: NodeJS.Timeout | undefined;
        drained = await Promise.race([
          inbox.drain().then(
            () => true,
            () => false,
          ),
          new Promise<boolean>((resolve) => {
            timer = setTimeout(() => resolve(false), waitMs);
          }),
        ]);
        clearTimeout(timer);
      }
    }
    if (!drained) this.messages.stop();
  }
}

/** Acknowledgements held back at most this long, to go out in one socket write. */
const ACK_DELAY_MS = 5;
/** …or until this many are waiting. */
const ACK_BATCH = 256;

/**
 * Acknowledgements wait a few milliseconds and go out together: the client then writes them to
 * the socket in one call. Sent one by one (a handler finishes one message per event-loop turn)
 * each costs a socket write: about 30 µs per message, a third of a 100 000-message run
 * (measured). The delay is nothing beside the ack wait; a node dying within it means those
 * messages are delivered again, as at-least-once allows.
 */
class AckBatch {
  private pending: JsMsg[] = [];
  private timer: NodeJS.Timeout | null = null;

  add(m: JsMsg): void {
    this.pending.push(m);
    if (this.pending.length >= ACK_BATCH) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), ACK_DELAY_MS);
  }

  flush(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const pending = this.pending;
    this.pending = [];
    for (const m of pending) m.ack();
  }
}

function inbound(m: JsMsg, acks: AckBatch): InboundMessage {
  return {
    subject: m.subject,
    data: m.data,
    headers: headerValues(m.headers),
    reply: undefined,
    deliveryCount: m.info.redeliveryCount,
    ack: () => acks.add(m),
    nak: (delayMs) => m.nak(delayMs),
    working: () => m.working(),
    respond: () => false,
  };
}

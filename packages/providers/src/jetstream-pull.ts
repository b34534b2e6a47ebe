import type { Logger } from "@wasmatrix/core/logger";
import type { Consumer, ConsumerMessages, JsMsg, Subscription } from "nats";
import { headerValues, type InboundMessage } from "./inbound-message.js";
import type { NatsLink } from "./nats-link.js";

/** How long one pull request waits on the server for messages before it is renewed. */
export const DEFAULT_FETCH_EXPIRES_MS = 5_000;
/** Pause before re-attaching to a consumer after a failure (NATS down, consumer gone). */
const REATTACH_DELAY_MS = 500;

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

/** A running pull loop of one durable subscription. */
export interface PullLoop {
  /** Settles when the loop has ended. */
  readonly ended: Promise<void>;
  /** Stops pulling; what still comes in goes back to the server. Idempotent. */
  halt(): void;
  /** Sends the acknowledgements still held back. */
  flushAcks(): void;
}

export interface PullLoopOptions {
  link: NatsLink;
  stream: string;
  consumer: string;
  sink: DurableSink;
  logger: Logger;
  /** Makes the consumer again after a failure (it may have been deleted, or expired). */
  reattach(): Promise<void>;
}

/**
 * Pulls the durable consumer's messages into the sink, never more than the sink has room for:
 * while it is full nothing is pulled and messages wait in the stream, on the server's disk.
 */
export function startPullLoop({
  link,
  stream,
  consumer: name,
  sink,
  logger,
  reattach,
}: PullLoopOptions): PullLoop {
  let stopped = false;
  let halt = () => {};
  const halted = new Promise<void>((resolve) => {
    halt = resolve;
  });
  let pull: Pull | null = null;
  const acks = new AckBatch();
  // While NATS is down the server has forgotten the pull with the connection: nothing to wait for.
  const endPull = (p: Pull) => p.end(link.connected ? link.unavailableAfterMs : 0);
  const run = async () => {
    let consumer: Consumer | null = null;
    while (!stopped) {
      let room = 0;
      const late: JsMsg[] = [];
      try {
        if (consumer === null) {
          const js = await link.jetstream();
          consumer = await js.consumers.get(stream, name);
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
        logger.warn(
          { err: error, consumer: name },
          "messaging: durable subscription interrupted; re-attaching",
        );
        await new Promise((resolve) => setTimeout(resolve, REATTACH_DELAY_MS));
        // The consumer may be gone (deleted, or expired while nobody pulled): make it again.
        await reattach().catch(() => undefined);
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
  return {
    ended: run(),
    halt: () => {
      if (!stopped) {
        stopped = true;
        halt();
        if (pull !== null) endPull(pull);
      }
    },
    flushAcks: () => acks.flush(),
  };
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

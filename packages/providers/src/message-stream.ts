import { ErrorCode, isValidSubject, WasmatrixError } from "@wasmatrix/core";
import type { Logger } from "@wasmatrix/core/logger";
import type { MessageSubscription } from "./inbound-message.js";
import { type DurableSink, startPullLoop } from "./jetstream-pull.js";
import type { NatsLink } from "./nats-link.js";
import { natsName } from "./nats-names.js";
import { type DurableSubscriptionSpec, type MessageStreamOptions, StreamAdmin } from "./stream-admin.js";

export interface DurableSubscription extends MessageSubscription {
  /** The JetStream consumer's name. */
  readonly consumer: string;
  /** Unsubscribes and deletes the durable consumer with any messages it still had to deliver. */
  remove(): Promise<void>;
}

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
 * The parts: `StreamAdmin` keeps the stream's subjects and the consumers (subject-cover.ts says
 * which subjects cover the subscriptions), and a pull loop (jetstream-pull.ts) per subscription
 * fetches, acks and naks its messages.
 */
export class MessageStream {
  readonly name: string;
  private readonly subscriptions = new Set<DurableSubscription>();
  private readonly admin: StreamAdmin;

  constructor(
    private readonly link: NatsLink,
    options: MessageStreamOptions = {},
    private readonly logger: Logger,
  ) {
    this.admin = new StreamAdmin(link, options);
    this.name = this.admin.name;
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
    await this.admin.attach(spec, name);
    const loop = startPullLoop({
      link: this.link,
      stream: this.name,
      consumer: name,
      sink,
      logger: this.logger,
      reattach: () => this.admin.attach(spec, name),
    });
    const stop = async () => {
      loop.halt();
      await subscription.closed;
      loop.flushAcks();
    };
    const subscription: DurableSubscription = {
      subject: spec.subject,
      queue: spec.durable,
      consumer: name,
      closed: loop.ended.finally(() => this.subscriptions.delete(subscription)),
      unsubscribe: stop,
      remove: async () => {
        await stop();
        await this.admin.deleteConsumer(name);
      },
    };
    this.subscriptions.add(subscription);
    return subscription;
  }

  /** Stops every subscription; their durable consumers stay for the next subscriber. */
  async close(): Promise<void> {
    await Promise.all([...this.subscriptions].map((s) => s.unsubscribe()));
  }
}

import { ErrorCode, subjectCovers, WasmatrixError } from "@wasmatrix/core";
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  nanos,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from "nats";
import { JetStreamErrCode, jetStreamErrCode, natsFailure } from "./nats-errors.js";
import type { NatsLink } from "./nats-link.js";
import { coverSubjects } from "./subject-cover.js";

export const DEFAULT_MESSAGE_STREAM = "WASMATRIX_MESSAGES";
/** Bytes the stream keeps for subscribers that lag; past it, the oldest messages go first. */
export const DEFAULT_STREAM_MAX_BYTES = 1024 * 1024 * 1024;
/** A delivered message not acknowledged (or marked `working`) within this is delivered again. */
export const DEFAULT_ACK_WAIT_MS = 30_000;
/** A durable consumer nobody has pulled from for this long is deleted by the server. */
export const DEFAULT_INACTIVE_THRESHOLD_MS = 24 * 60 * 60 * 1000;
export const DEFAULT_MAX_ACK_PENDING = 10_000;
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
 * Creates and updates the JetStream stream and its durable consumers. Subjects are only ever
 * added to the stream (a node cannot know whether another still needs one); an unused one costs
 * nothing. Nodes adding subjects at the same moment can undo each other's update, so every
 * (re)attachment checks its subject is still captured.
 */
export class StreamAdmin {
  readonly name: string;
  private updating: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly link: NatsLink,
    private readonly options: MessageStreamOptions = {},
  ) {
    this.name = options.name ?? DEFAULT_MESSAGE_STREAM;
  }

  /** Makes sure the stream captures the spec's subject and the durable consumer exists for it. */
  async attach(spec: DurableSubscriptionSpec, consumer: string): Promise<void> {
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

  /** Deletes a durable consumer with any messages it still had to deliver; gone already is fine. */
  async deleteConsumer(consumer: string): Promise<void> {
    const jsm = await this.link.jetstreamManager();
    try {
      await jsm.consumers.delete(this.name, consumer);
    } catch (error) {
      if (jetStreamErrCode(error) !== JetStreamErrCode.CONSUMER_NOT_FOUND) {
        throw natsFailure(error, `messaging: deleting consumer ${consumer}`, this.link, "jetstream");
      }
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

import { type ErrorCode, subjectForGuest, WasmatrixError } from "@wasmatrix/core";
import type { Logger } from "@wasmatrix/core/logger";
import type { InboundMessage } from "@wasmatrix/providers";
import type { InvokeResult } from "@wasmatrix/runtime";
import type { Delivery } from "./delivery-queue.js";
import { type ResolvedSpec, retryDelayMs } from "./subscription-spec.js";

/** Longest error text put in a dead letter's header. */
const MAX_HEADER_TEXT = 1_024;

/** What the manager needs of the node agent. */
export interface Invoker {
  invoke(instanceId: string, operation: string, payload: Uint8Array): Promise<InvokeResult>;
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

/** What delivery needs of a subscription. */
export interface DeliveryTarget {
  readonly instanceId: string;
  readonly spec: ResolvedSpec;
  /** The instance's tenant: what arrives outside its subjects is not delivered. */
  readonly tenant: string;
  /** The spec's dead-letter subject as the bus carries it (under the tenant's prefix). */
  readonly deadLetterBusSubject: string;
  readonly counters: SubscriptionCounters;
  readonly closing: boolean;
  /** Resolves when the subscription starts closing, to cut a backoff short. */
  readonly stopped: Promise<void>;
}

type Failure =
  | { kind: "guest_error"; message: string }
  | { kind: "crash"; reason: string; message: string }
  | { kind: "error"; code: ErrorCode; message: string };

const decoder = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

function envelope(message: InboundMessage, subject: string): Uint8Array {
  const body: Record<string, unknown> = { subject };
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
 * Delivers one message to its instance as invocations, with retries under exponential backoff,
 * and publishes it to the dead-letter subject once every attempt failed (a guest error, a crash,
 * or an error such as the instance not running).
 */
export class SubscriptionDelivery {
  constructor(
    private readonly agent: Invoker,
    private readonly publish: (
      subject: string,
      data: Uint8Array,
      headers: Readonly<Record<string, string>>,
    ) => Promise<void>,
    /** While the instance is paused: resolves when it runs again. */
    private readonly resumedOf: (instanceId: string) => Promise<void> | undefined,
    private readonly logger: Logger,
  ) {}

  /** Invokes the instance until it succeeds or the attempts run out; then acks or dead-letters. */
  async deliver({ message, sub }: Delivery<DeliveryTarget>): Promise<void> {
    const { spec, instanceId } = sub;
    // A default-tenant pattern (`>`, `*.b.orders`) also matches other tenants' subjects on the
    // bus; those messages are not this instance's to see. A tenant's guest sees its own subject.
    const subject = subjectForGuest(sub.tenant, message.subject);
    if (subject === undefined) {
      message.ack();
      return;
    }
    const payload = spec.payload === "raw" ? message.data : envelope(message, subject);
    for (let attempt = 1; ; attempt++) {
      const resumed = this.resumedOf(instanceId);
      // Waiting for the instance to run again costs no attempt.
      if (resumed !== undefined && !sub.closing) await Promise.race([resumed, sub.stopped]);
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
        await this.deadLetter(sub, message, subject, failure, attempt);
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

  private async deadLetter(
    sub: DeliveryTarget,
    message: InboundMessage,
    subject: string,
    failure: Failure,
    attempts: number,
  ) {
    const headers: Record<string, string> = {
      ...message.headers,
      "Wasmatrix-Error-Kind": failure.kind,
      "Wasmatrix-Error": headerText(failure.message),
      "Wasmatrix-Attempts": String(attempts),
      "Wasmatrix-Subject": subject,
      "Wasmatrix-Instance": sub.instanceId,
      "Wasmatrix-Operation": sub.spec.operation,
    };
    if (failure.kind === "error") headers["Wasmatrix-Error-Code"] = failure.code;
    if (failure.kind === "crash") headers["Wasmatrix-Crash-Reason"] = failure.reason;
    try {
      await this.publish(sub.deadLetterBusSubject, message.data, headers);
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
}

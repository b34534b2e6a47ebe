import { DEFAULT_BINDING, ErrorCode, isValidSubject, WasmatrixError } from "@wasmatrix/core";

export const DEFAULT_MESSAGE_OPERATION = "handle_message";
export const DEFAULT_MAX_QUEUE = 1_000;
export const DEFAULT_MAX_IN_FLIGHT = 1;
export const DEFAULT_MAX_ATTEMPTS = 5;
export const DEFAULT_INITIAL_BACKOFF_MS = 50;
export const DEFAULT_MAX_BACKOFF_MS = 10_000;
/** JetStream redelivers a message not acknowledged (nor marked working) within this. */
export const DEFAULT_SUBSCRIPTION_ACK_WAIT_MS = 30_000;
/** Dead letters go to `<prefix>.<instance id, dots as underscores>` unless a subject is given. */
export const DEAD_LETTER_PREFIX = "wasmatrix.deadletter";
const QUEUE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * How messages on a subject reach an instance.
 *
 * Delivery `durable` (the default) is **at least once**: a JetStream durable consumer per
 * instance and subject (or per queue group and subject) keeps what the instance has not
 * finished with, across node-agent and NATS restarts, and messages published while nothing
 * pulls. A message is delivered again only when its outcome was not recorded (the node died, or
 * held it past the ack wait without marking it working): the handler should be idempotent.
 *
 * Delivery `core` is **at most once**, on a core NATS subscription: what arrives while the
 * queue is full is dropped (and counted), what is published while the node is away is lost; in
 * exchange a subscriber can answer requests (the invocation's response is the reply).
 */
export interface SubscriptionSpec {
  /** A subject or pattern; needs `msg:subscribe:<pattern>` covered by a grant. */
  subject: string;
  /** @default DEFAULT_MESSAGE_OPERATION */
  operation?: string;
  /** A queue group: each message goes to one member. */
  queue?: string;
  /** Messages waiting for the instance, at most. @default DEFAULT_MAX_QUEUE */
  maxQueue?: number;
  /**
   * Invocations of the instance under way at once. With 1, messages are handled strictly one
   * after another in arrival order. More keeps the instance's worker busy without waiting for
   * each answer (the runtime still runs one invocation of an instance at a time, in the order
   * they were started), but a retried message then comes after later ones.
   * @default DEFAULT_MAX_IN_FLIGHT
   */
  maxInFlight?: number;
  /** Invocations per message before it is dead-lettered (1 = no retry). @default DEFAULT_MAX_ATTEMPTS */
  maxAttempts?: number;
  /** Wait before the first retry, doubled on each next one. @default DEFAULT_INITIAL_BACKOFF_MS */
  initialBackoffMs?: number;
  /** @default DEFAULT_MAX_BACKOFF_MS */
  maxBackoffMs?: number;
  /** @default `wasmatrix.deadletter.<instance id>` */
  deadLetterSubject?: string;
  /** @default "durable" */
  delivery?: "durable" | "core";
  /**
   * `envelope`: the invocation's payload is `{"subject":…,"data":"text"}` (`dataBase64` when the
   * data is not UTF-8, `headers` when the publisher set some). `raw`: the message's bytes.
   * @default "envelope"
   */
  payload?: "envelope" | "raw";
  /** The messaging assignment whose grants allow the subscription. @default "default" */
  binding?: string;
}

/** Wait before retry number `attempt` (1-based): `initial × 2^(attempt−1)`, at most `max`. */
export function retryDelayMs(attempt: number, initialMs: number, maxMs: number): number {
  return Math.min(maxMs, initialMs * 2 ** Math.min(Math.max(0, attempt - 1), 30));
}

/** A spec with every default filled in. */
export type ResolvedSpec = Required<Omit<SubscriptionSpec, "queue">> & { queue: string | undefined };

/** Defaults filled in and impossible values refused, once, here. */
export function resolveSpec(instanceId: string, spec: SubscriptionSpec): ResolvedSpec {
  const bad = (message: string) =>
    new WasmatrixError(ErrorCode.INVALID_REQUEST, `subscription to '${spec.subject}': ${message}`, {
      instanceId,
      subject: spec.subject,
    });
  if (typeof spec.subject !== "string" || !isValidSubject(spec.subject, true)) {
    throw bad("not a subject pattern (dot-separated tokens, '*' for one token, '>' for the rest)");
  }
  const positive = (value: number | undefined, fallback: number, name: string, min: number) => {
    const v = value ?? fallback;
    if (!Number.isInteger(v) || v < min) throw bad(`${name} must be an integer ≥ ${min}`);
    return v;
  };
  const deadLetterSubject =
    spec.deadLetterSubject ?? `${DEAD_LETTER_PREFIX}.${instanceId.replaceAll(".", "_")}`;
  if (!isValidSubject(deadLetterSubject)) throw bad(`'${deadLetterSubject}' is not a dead-letter subject`);
  if (spec.queue !== undefined && !QUEUE_NAME.test(spec.queue)) {
    throw bad("a queue group name is 1–128 letters, digits, '.', '_' or '-'");
  }
  const delivery = spec.delivery ?? "durable";
  if (delivery !== "durable" && delivery !== "core") throw bad("delivery is 'durable' or 'core'");
  const payload = spec.payload ?? "envelope";
  if (payload !== "envelope" && payload !== "raw") throw bad("payload is 'envelope' or 'raw'");
  const operation = spec.operation ?? DEFAULT_MESSAGE_OPERATION;
  if (typeof operation !== "string" || operation.length === 0) throw bad("the operation must not be empty");
  const initialBackoffMs = positive(spec.initialBackoffMs, DEFAULT_INITIAL_BACKOFF_MS, "initialBackoffMs", 0);
  const maxBackoffMs = positive(spec.maxBackoffMs, DEFAULT_MAX_BACKOFF_MS, "maxBackoffMs", 0);
  if (maxBackoffMs < initialBackoffMs) throw bad("maxBackoffMs must not be below initialBackoffMs");
  return {
    subject: spec.subject,
    operation,
    queue: spec.queue,
    maxQueue: positive(spec.maxQueue, DEFAULT_MAX_QUEUE, "maxQueue", 1),
    maxInFlight: positive(spec.maxInFlight, DEFAULT_MAX_IN_FLIGHT, "maxInFlight", 1),
    maxAttempts: positive(spec.maxAttempts, DEFAULT_MAX_ATTEMPTS, "maxAttempts", 1),
    initialBackoffMs,
    maxBackoffMs,
    deadLetterSubject,
    delivery,
    payload,
    binding: spec.binding ?? DEFAULT_BINDING,
  };
}

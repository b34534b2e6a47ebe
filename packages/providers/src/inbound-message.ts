import type { MsgHdrs } from "nats";

/** A message handed to a host-side subscriber. */
export interface InboundMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  /** The first value of each header the publisher set. */
  readonly headers: Readonly<Record<string, string>>;
  /** Core NATS only: where a request wants its answer. JetStream does not keep reply subjects. */
  readonly reply: string | undefined;
  /** 1 the first time; higher when JetStream delivers it again. Always 1 for core NATS. */
  readonly deliveryCount: number;
  /** Done with it: JetStream will not deliver it again. No effect for core NATS. */
  ack(): void;
  /** Give it back: JetStream delivers it again after `delayMs`. No effect for core NATS. */
  nak(delayMs?: number): void;
  /** Still working on it: restarts JetStream's ack timer. No effect for core NATS. */
  working(): void;
  /** Answers a request; false when the message asked for no answer. */
  respond(data: Uint8Array): boolean;
}

export type MessageHandler = (message: InboundMessage) => Promise<void>;

/** A host-side subscription; the nats client renews it after every reconnection. */
export interface MessageSubscription {
  readonly subject: string;
  readonly queue: string | undefined;
  /** Stops delivery. A handler already running finishes. */
  unsubscribe(): Promise<void>;
  /** Resolves once no more messages will be delivered. */
  readonly closed: Promise<void>;
}

/** The first value of each header (what `InboundMessage.headers` holds). */
export function headerValues(hdrs: MsgHdrs | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (hdrs === undefined) return out;
  for (const [name, values] of hdrs) if (values[0] !== undefined) out[name] = values[0];
  return out;
}

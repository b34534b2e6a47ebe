import type * as pb from "@wasmatrix/proto";

/** A queue trigger as the messaging side needs it. */
export interface QueueTrigger {
  readonly name: string;
  readonly subject: string;
  /** Messages are shared with the other members of this group (other control planes included). */
  readonly group: string;
  readonly operation: string;
  readonly deadLetterSubject: string;
  /** 0: the subscription default. */
  readonly maxAttempts: number;
}

export interface QueueCounters {
  delivered: number;
  retried: number;
  deadLettered: number;
  dropped: number;
}

/** Invokes the target of trigger `name` with one message's payload (a new target per message). */
export type QueueInvoke = (
  name: string,
  operation: string,
  payload: Uint8Array,
) => Promise<pb.InvokeResponse>;

/**
 * Where queue triggers get their messages: the node agent's subscription machinery on a
 * messaging bus (NATS, or the in-process bus of `up`), given to the control plane by whoever
 * builds it (embedded, daemons), since the control plane does not depend on the node agent.
 */
export interface QueueTriggerHost {
  start(trigger: QueueTrigger): Promise<void>;
  stop(name: string): Promise<void>;
  counters(name: string): QueueCounters | undefined;
  close(): Promise<void>;
}

export type QueueTriggerHostFactory = (invoke: QueueInvoke) => QueueTriggerHost;

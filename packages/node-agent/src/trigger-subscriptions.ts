import { DEFAULT_BINDING, parsePermission } from "@wasmatrix/core";
import { type Logger, silentLogger } from "@wasmatrix/core/logger";
import type * as pb from "@wasmatrix/proto";
import type { CrashReason, InvokeResult } from "@wasmatrix/runtime";
import type { SubscriptionCounters } from "./subscription-delivery.js";
import { type MessageBus, SubscriptionManager } from "./subscriptions.js";

/** A queue trigger, as the control plane hands it over (its QueueTrigger). */
export interface QueueTriggerSpec {
  readonly name: string;
  readonly subject: string;
  readonly group: string;
  readonly operation: string;
  readonly deadLetterSubject: string;
  /** 0: the subscription default. */
  readonly maxAttempts: number;
}

/** Invokes the current target of trigger `name` (the control plane picks it per message). */
export type TriggerInvoke = (
  name: string,
  operation: string,
  payload: Uint8Array,
) => Promise<pb.InvokeResponse>;

const NO_METERING = { wallTimeMs: 0, fuelUsed: 0, peakMemoryBytes: 0, hostCalls: 0 };

function resultOf(response: pb.InvokeResponse): InvokeResult {
  const outcome = response.outcome;
  const metering = { ...NO_METERING, ...outcome?.metering };
  return {
    outcome:
      outcome?.status === "crashed"
        ? { status: "crashed", reason: outcome.reason as CrashReason, trap: outcome.trap, metering }
        : { status: "ok", exitCode: outcome?.exitCode ?? 0, metering },
    response: response.response,
    ...(response.guestError === "" ? {} : { guestError: response.guestError }),
  };
}

/**
 * The control plane's queue triggers on a messaging bus, through the same SubscriptionManager
 * that delivers instance subscriptions: a bounded queue, retries with backoff, a dead-letter
 * subject. Each trigger is one durable subscription keyed by the trigger's name, in the
 * trigger's queue group, so control planes sharing a trigger share its messages.
 */
export class TriggerSubscriptions {
  private readonly manager: SubscriptionManager;

  constructor(bus: MessageBus, invoke: TriggerInvoke, options: { logger?: Logger } = {}) {
    this.manager = new SubscriptionManager(
      { invoke: async (name, operation, payload) => resultOf(await invoke(name, operation, payload)) },
      bus,
      { logger: options.logger ?? silentLogger },
    );
  }

  async start(trigger: QueueTriggerSpec): Promise<void> {
    // The trigger was authorized when it was added (an admin API call); the assignment here only
    // tells the manager that this subscription is allowed.
    const assignment = {
      capability: "messaging" as const,
      provider: "local" as const,
      binding: DEFAULT_BINDING,
      permissions: [parsePermission(`msg:subscribe:${trigger.subject}`)],
    };
    await this.manager.subscribe(
      trigger.name,
      {
        subject: trigger.subject,
        queue: trigger.group,
        operation: trigger.operation,
        deadLetterSubject: trigger.deadLetterSubject,
        ...(trigger.maxAttempts > 0 ? { maxAttempts: trigger.maxAttempts } : {}),
        delivery: "durable",
      },
      [assignment],
    );
  }

  async stop(name: string): Promise<void> {
    await this.manager.unsubscribe(name);
  }

  counters(name: string): SubscriptionCounters | undefined {
    return this.manager.list(name)[0]?.counters;
  }

  close(): Promise<void> {
    return this.manager.close();
  }
}

import {
  ErrorCode,
  isValidSubject,
  MAX_TRIGGER_DATA_BYTES,
  selectTargets,
  TriggerName,
  type TriggerTarget,
  triggerDeadLetterSubject,
  validateTriggerSubject,
  validateTriggerTarget,
  WasmatrixError,
} from "@wasmatrix/core";
import type { Logger } from "@wasmatrix/core/logger";
import * as pb from "@wasmatrix/proto";
import type { OwnFact } from "../membership.js";
import { type Clock, systemClock } from "./clock.js";
import { type CronSchedule, parseCron } from "./cron.js";
import { CronScheduler } from "./cron-scheduler.js";
import type { QueueTrigger, QueueTriggerHost, QueueTriggerHostFactory } from "./queue-host.js";
import { MemoryTriggerStore, type TriggerStore } from "./store.js";
import { soleOwner, type TickClaims } from "./tick-claims.js";

const GROUP_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const MAX_OPERATION_LENGTH = 128;

export interface TriggersOptions {
  /** @default a MemoryTriggerStore */
  store?: TriggerStore;
  /** @default soleOwner (every tick is this control plane's) */
  claims?: TickClaims;
  /** @default systemClock */
  clock?: Clock;
  /** Builds the host of queue triggers; without one, queue triggers are refused. */
  queue?: QueueTriggerHostFactory;
}

export interface TriggerDeps {
  logger: Logger;
  instances(): Iterable<pb.Instance>;
  invoke(request: pb.InvokeRequest): Promise<pb.InvokeResponse>;
  record(fact: OwnFact): void;
}

interface Entry {
  readonly trigger: pb.Trigger;
  readonly target: TriggerTarget;
  readonly schedule: CronSchedule | null;
  fired: number;
  failed: number;
  /** Round-robin position over a label target's instances, for queue messages. */
  turn: number;
}

/**
 * The control plane's triggers: definitions from the store, cron ticks scheduled here and fired
 * by whichever control plane claims them, queue triggers handed to the queue host.
 */
export class Triggers {
  private readonly entries = new Map<string, Entry>();
  private readonly store: TriggerStore;
  private readonly claims: TickClaims;
  private readonly clock: Clock;
  private readonly scheduler: CronScheduler;
  private readonly queue: QueueTriggerHost | null;
  private readonly firing = new Set<Promise<void>>();
  /** Queue triggers whose subscription is being made. */
  private readonly subscribing = new Map<string, Promise<void>>();
  private watch: { close(): Promise<void> } | null = null;
  private readonly ready: Promise<void>;
  private closed = false;

  constructor(
    options: TriggersOptions,
    private readonly deps: TriggerDeps,
  ) {
    this.store = options.store ?? new MemoryTriggerStore();
    this.claims = options.claims ?? soleOwner;
    this.clock = options.clock ?? systemClock;
    this.scheduler = new CronScheduler(this.clock, (name, at) => this.tick(name, at));
    this.queue =
      options.queue === undefined
        ? null
        : options.queue((name, operation, payload) => this.invokeQueued(name, operation, payload));
    this.ready = this.store
      .watch({ put: (t) => this.apply(t), delete: (name) => this.forget(name) })
      .then((watch) => {
        if (this.closed) void watch.close();
        else this.watch = watch;
      });
    this.ready.catch((error: unknown) =>
      this.deps.logger.error({ err: error }, "triggers: cannot read the trigger store"),
    );
  }

  async add(request: pb.AddTriggerRequest): Promise<pb.Trigger> {
    await this.ready;
    const trigger = this.validate(request.trigger);
    if (trigger.queueSubject !== "" && this.queue === null) {
      throw new WasmatrixError(
        ErrorCode.PROVIDER_UNAVAILABLE,
        "queue triggers need messaging on the control plane: use `wasmatrix up` (in-process bus or --nats) or start the control plane with --nats <url>",
        { trigger: trigger.name },
      );
    }
    await this.store.create(trigger);
    // The store's watch applies it too (on every control plane); applying here makes it visible
    // to this caller at once.
    this.apply(trigger);
    try {
      // Subscribed before the caller hears back: what is published after that is delivered.
      await this.subscribing.get(trigger.name);
    } catch (error) {
      await this.store.remove(trigger.name);
      this.forget(trigger.name);
      throw error;
    }
    this.deps.record({
      kind: "trigger.added",
      data: {
        trigger: trigger.name,
        source: trigger.cron !== "" ? "cron" : "queue",
        schedule: trigger.cron !== "" ? trigger.cron : trigger.queueSubject,
      },
    });
    const entry = this.entries.get(trigger.name);
    // Removed meanwhile (another caller, another control plane): answer with what was added.
    return entry === undefined ? trigger : this.view(entry);
  }

  async remove(request: pb.RemoveTriggerRequest): Promise<pb.Trigger> {
    await this.ready;
    const name = TriggerName.parse(request.name);
    const entry = this.entries.get(name);
    const removed = await this.store.remove(name);
    if (!removed) {
      throw new WasmatrixError(
        ErrorCode.TRIGGER_NOT_FOUND,
        `no trigger named '${name}'; list them with: wasmatrix trigger list`,
        { trigger: name },
      );
    }
    this.forget(name);
    this.deps.record({ kind: "trigger.removed", data: { trigger: name } });
    // No entry: the stored definition was one this control plane could not read; it is gone now.
    return entry === undefined ? pb.Trigger.fromPartial({ name }) : this.view(entry);
  }

  async list(): Promise<pb.ListTriggersResponse> {
    await this.ready;
    const names = [...this.entries.keys()].sort();
    return { triggers: names.map((name) => this.view(this.entries.get(name)!)) };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.scheduler.close();
    await this.watch?.close();
    await this.queue?.close();
    await Promise.all([...this.firing]);
  }

  /** Waits for the firings under way (tests). */
  async settled(): Promise<void> {
    while (this.firing.size > 0) await Promise.all([...this.firing]);
  }

  private validate(input: pb.Trigger | undefined): pb.Trigger {
    if (input === undefined)
      throw new WasmatrixError(ErrorCode.INVALID_REQUEST, "AddTrigger needs a trigger");
    const name = TriggerName.parse(input.name);
    const bad = (message: string) =>
      new WasmatrixError(ErrorCode.INVALID_REQUEST, `trigger '${name}': ${message}`, { trigger: name });
    if ((input.cron === "") === (input.queueSubject === "")) {
      throw bad("give exactly one of --cron EXPR and --queue SUBJECT");
    }
    const target = validateTriggerTarget({ instanceId: input.targetInstanceId, labels: input.targetLabels });
    if (input.operation === "" || input.operation.length > MAX_OPERATION_LENGTH) {
      throw bad(`--operation must name the operation to invoke (1–${MAX_OPERATION_LENGTH} characters)`);
    }
    if (input.cron !== "") parseCron(input.cron);
    if (input.data.byteLength > MAX_TRIGGER_DATA_BYTES) {
      throw bad(`--data is ${input.data.byteLength} bytes; the cap is ${MAX_TRIGGER_DATA_BYTES}`);
    }
    let deadLetterSubject = "";
    if (input.queueSubject !== "") {
      validateTriggerSubject(input.queueSubject);
      if (input.queueGroup !== "" && !GROUP_NAME.test(input.queueGroup)) {
        throw bad("a queue group name is 1–128 letters, digits, '.', '_' or '-'");
      }
      deadLetterSubject =
        input.deadLetterSubject === "" ? triggerDeadLetterSubject(name) : input.deadLetterSubject;
      if (!isValidSubject(deadLetterSubject))
        throw bad(`'${deadLetterSubject}' is not a dead-letter subject`);
    } else if (input.queueGroup !== "" || input.deadLetterSubject !== "" || input.maxAttempts !== 0) {
      throw bad("--group, --dead-letter and --max-attempts apply to queue triggers only");
    }
    return pb.Trigger.fromPartial({
      name,
      cron: input.cron.trim(),
      queueSubject: input.queueSubject,
      queueGroup: input.queueGroup,
      targetInstanceId: target.instanceId ?? "",
      targetLabels: target.labels ?? {},
      operation: input.operation,
      data: input.data,
      createdAtMs: this.clock.now(),
      deadLetterSubject,
      maxAttempts: input.maxAttempts,
    });
  }

  /** A trigger from the store (or just added): scheduled, or handed to the queue host. */
  private apply(trigger: pb.Trigger): void {
    if (this.closed) return;
    const existing = this.entries.get(trigger.name);
    if (existing !== undefined && existing.trigger.createdAtMs === trigger.createdAtMs) return;
    if (existing !== undefined) this.forget(trigger.name);
    let target: TriggerTarget;
    let schedule: CronSchedule | null = null;
    try {
      target = validateTriggerTarget({ instanceId: trigger.targetInstanceId, labels: trigger.targetLabels });
      if (trigger.cron !== "") schedule = parseCron(trigger.cron);
    } catch (error) {
      this.deps.logger.warn({ err: error, trigger: trigger.name }, "triggers: stored trigger is invalid");
      return;
    }
    this.entries.set(trigger.name, { trigger, target, schedule, fired: 0, failed: 0, turn: 0 });
    if (schedule !== null) this.scheduler.schedule(trigger.name, schedule);
    else if (this.queue === null) {
      // Added through a control plane with messaging; this one cannot serve it.
      this.deps.logger.warn(
        { trigger: trigger.name },
        "triggers: a queue trigger is stored but this control plane has no messaging (--nats)",
      );
    } else {
      const started = this.queue.start(queueTriggerOf(trigger));
      this.subscribing.set(trigger.name, started);
      started
        .catch((error: unknown) => {
          this.deps.logger.error({ err: error, trigger: trigger.name }, "triggers: cannot subscribe");
        })
        .finally(() => {
          if (this.subscribing.get(trigger.name) === started) this.subscribing.delete(trigger.name);
        });
    }
  }

  private forget(name: string): void {
    const entry = this.entries.get(name);
    if (entry === undefined) return;
    this.entries.delete(name);
    this.scheduler.unschedule(name);
    if (entry.schedule === null) {
      this.queue?.stop(name).catch((error: unknown) => {
        this.deps.logger.warn({ err: error, trigger: name }, "triggers: unsubscribe failed");
      });
    }
  }

  private tick(name: string, scheduledAt: number): void {
    const entry = this.entries.get(name);
    if (entry === undefined) return;
    const run = this.fire(entry, scheduledAt).catch((error: unknown) => {
      this.deps.logger.error({ err: error, trigger: name }, "triggers: firing failed");
    });
    this.firing.add(run);
    void run.finally(() => this.firing.delete(run));
  }

  private async fire(entry: Entry, scheduledAt: number): Promise<void> {
    const { trigger } = entry;
    let claimed: boolean;
    try {
      claimed = await this.claims.claim(trigger.name, scheduledAt);
    } catch (error) {
      // Unclaimed is unfired: a tick is skipped rather than possibly fired twice.
      this.deps.logger.warn(
        { err: error, trigger: trigger.name, scheduledAt },
        "triggers: cannot claim a tick",
      );
      return;
    }
    if (!claimed) return;
    const targets = selectTargets(this.deps.instances(), entry.target);
    if (targets.length === 0) {
      entry.failed++;
      this.deps.record({
        kind: "trigger.fired",
        data: {
          trigger: trigger.name,
          scheduledAt,
          outcome: "no_target",
          detail: describeTarget(entry.target),
        },
      });
      return;
    }
    await Promise.all(
      targets.map(async (instance) => {
        const outcome = await this.invokeOnce(
          instance.instanceId,
          trigger.operation,
          Buffer.from(trigger.data),
        );
        if (outcome.outcome === "ok") entry.fired++;
        else entry.failed++;
        this.deps.record({
          kind: "trigger.fired",
          instanceId: instance.instanceId,
          ...(instance.nodeId === "" ? {} : { nodeId: instance.nodeId }),
          data: { trigger: trigger.name, scheduledAt, ...outcome },
        });
      }),
    );
  }

  private async invokeOnce(
    instanceId: string,
    operation: string,
    payload: Buffer,
  ): Promise<{ outcome: string; code?: string; detail?: string }> {
    try {
      const response = await this.deps.invoke({ instanceId, operation, payload });
      if (response.outcome?.status === "crashed") {
        return {
          outcome: "crashed",
          code: response.outcome.reason || "crashed",
          detail: response.outcome.trap,
        };
      }
      if (response.guestError !== "") return { outcome: "guest_error", detail: response.guestError };
      return { outcome: "ok" };
    } catch (error) {
      const wrapped = WasmatrixError.from(error);
      return { outcome: "error", code: wrapped.code, detail: wrapped.message };
    }
  }

  /** A queue message for trigger `name`: one target (round-robin over a label's instances). */
  private async invokeQueued(
    name: string,
    operation: string,
    payload: Uint8Array,
  ): Promise<pb.InvokeResponse> {
    const entry = this.entries.get(name);
    if (entry === undefined) {
      throw new WasmatrixError(ErrorCode.TRIGGER_NOT_FOUND, `trigger '${name}' was removed`, {
        trigger: name,
      });
    }
    const targets = selectTargets(this.deps.instances(), entry.target);
    if (targets.length === 0) {
      throw new WasmatrixError(
        ErrorCode.FAILED_PRECONDITION,
        `trigger '${name}': no instance to deliver to (${describeTarget(entry.target)})`,
        { trigger: name },
      );
    }
    const instance = targets[entry.turn++ % targets.length]!;
    return this.deps.invoke({ instanceId: instance.instanceId, operation, payload: Buffer.from(payload) });
  }

  private view(entry: Entry): pb.Trigger {
    const counters = this.queue?.counters(entry.trigger.name);
    return pb.Trigger.fromPartial({
      ...entry.trigger,
      nextFireAtMs: this.scheduler.nextTick(entry.trigger.name) ?? 0,
      counters:
        counters === undefined
          ? { fired: entry.fired, failed: entry.failed }
          : {
              fired: counters.delivered,
              failed: counters.deadLettered,
              retried: counters.retried,
              deadLettered: counters.deadLettered,
              dropped: counters.dropped,
            },
    });
  }
}

function describeTarget(target: TriggerTarget): string {
  if (target.instanceId !== undefined) return `instance ${target.instanceId}`;
  const labels = Object.entries(target.labels).map(([k, v]) => `${k}=${v}`);
  return `running instances labelled ${labels.join(",")}`;
}

function queueTriggerOf(trigger: pb.Trigger): QueueTrigger {
  return {
    name: trigger.name,
    subject: trigger.queueSubject,
    // Without a group of its own, the trigger's name is its group: control planes sharing the
    // trigger share its messages, so each message is delivered once, not once per control plane.
    group: trigger.queueGroup === "" ? `trigger.${trigger.name}` : trigger.queueGroup,
    operation: trigger.operation,
    deadLetterSubject: trigger.deadLetterSubject,
    maxAttempts: trigger.maxAttempts,
  };
}

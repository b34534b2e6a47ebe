import { ErrorCode, WasmatrixError } from "./errors.js";
import { InstanceId } from "./ids.js";
import { validateLabels } from "./metadata.js";
import { isValidSubject } from "./permissions.js";

/**
 * Triggers start invocations without a caller: on a cron schedule, or for each message on a
 * subject. This file holds what is pure about them: names, targets and which instances a target
 * selects. Scheduling lives in the control plane (docs/triggers.md).
 */

/** A trigger name: the id alphabet (`[A-Za-z0-9._-]`, at most 128), safe in etcd keys and subjects. */
export const TriggerName = {
  parse(value: unknown): string {
    if (!InstanceId.isValid(value)) {
      throw new WasmatrixError(
        ErrorCode.INVALID_REQUEST,
        `trigger name '${String(value).slice(0, 160)}' must be 1–128 letters, digits, '.', '_' or '-', starting with a letter or digit`,
        { name: String(value).slice(0, 160) },
      );
    }
    return value;
  },
};

/** Exactly one instance by id, or every running instance carrying all the labels. */
export type TriggerTarget =
  | { readonly instanceId: string; readonly labels?: undefined }
  | { readonly instanceId?: undefined; readonly labels: Readonly<Record<string, string>> };

/** The largest payload a cron trigger carries to each invocation. */
export const MAX_TRIGGER_DATA_BYTES = 64 * 1024;
/** The dead-letter subject of a queue trigger named NAME, unless it names one. */
export const TRIGGER_DEAD_LETTER_PREFIX = "wasmatrix.deadletter.trigger";

export function triggerDeadLetterSubject(name: string): string {
  return `${TRIGGER_DEAD_LETTER_PREFIX}.${name.replaceAll(".", "_")}`;
}

/** Parses `k=v` (repeatable in the CLI, comma-separated here too) into a label selector. */
export function parseLabelSelector(texts: string | readonly string[]): Record<string, string> {
  const parts = (typeof texts === "string" ? [texts] : texts).flatMap((t) => t.split(","));
  const selector: Record<string, string> = {};
  for (const part of parts) {
    const at = part.indexOf("=");
    if (at <= 0) {
      throw new WasmatrixError(
        ErrorCode.INVALID_REQUEST,
        `label selector '${part.slice(0, 200)}' must be key=value (e.g. app=web)`,
        { selector: part.slice(0, 200) },
      );
    }
    selector[part.slice(0, at).trim()] = part.slice(at + 1).trim();
  }
  return { ...validateLabels(selector) };
}

/** Checks a target: one instance id, or a non-empty label selector; never both. */
export function validateTriggerTarget(target: {
  instanceId?: string | undefined;
  labels?: Readonly<Record<string, string>> | undefined;
}): TriggerTarget {
  const hasId = target.instanceId !== undefined && target.instanceId !== "";
  const hasLabels = target.labels !== undefined && Object.keys(target.labels).length > 0;
  if (hasId === hasLabels) {
    throw new WasmatrixError(
      ErrorCode.INVALID_REQUEST,
      "a trigger needs exactly one target: --target <instance id> or --target-label k=v",
      {},
    );
  }
  if (hasId) return { instanceId: InstanceId.parse(target.instanceId) };
  return { labels: { ...validateLabels(target.labels) } };
}

/** Checks a queue trigger's subject (wildcards allowed, as in subscriptions). */
export function validateTriggerSubject(subject: string): string {
  if (!isValidSubject(subject, true)) {
    throw new WasmatrixError(
      ErrorCode.INVALID_REQUEST,
      `'${subject.slice(0, 200)}' is not a subject pattern (dot-separated tokens, '*' for one token, '>' for the rest)`,
      { subject: subject.slice(0, 200) },
    );
  }
  return subject;
}

/** What target selection needs of an instance; `labels` absent means no labels. */
export interface TargetCandidate {
  readonly instanceId: string;
  readonly status: string;
  readonly labels?: Readonly<Record<string, string>> | undefined;
}

/**
 * The instances a target names, in id order: the one instance by id (whatever its status: the
 * invocation then says why it cannot run), or the running instances carrying every label of the
 * selector (none running: none selected).
 */
export function selectTargets<T extends TargetCandidate>(instances: Iterable<T>, target: TriggerTarget): T[] {
  const selected: T[] = [];
  for (const instance of instances) {
    if (target.instanceId !== undefined) {
      if (instance.instanceId === target.instanceId) selected.push(instance);
    } else if (instance.status === "running" && carries(instance.labels ?? {}, target.labels)) {
      selected.push(instance);
    }
  }
  return selected.sort((a, b) => (a.instanceId < b.instanceId ? -1 : a.instanceId > b.instanceId ? 1 : 0));
}

function carries(labels: Readonly<Record<string, string>>, selector: Readonly<Record<string, string>>) {
  for (const [key, value] of Object.entries(selector)) if (labels[key] !== value) return false;
  return true;
}

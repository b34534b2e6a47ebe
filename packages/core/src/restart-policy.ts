import { formatDurationMs, parseDurationMs } from "./duration.js";
import { describe, invalid, isPlainObject, onlyFields, truncate } from "./validation.js";

/**
 * Restart policies as plain data, a validating constructor, a text form for the CLI, and the pure
 * decision the node agent's supervisor acts on. The supervisor owns the timer and the clock;
 * everything here takes them as arguments so it can be replayed. Semantics in docs/core.md.
 */

export interface BackoffPolicy {
  readonly kind: "backoff";
  /** Delay before the first restart, in whole ms, ≥ 1. @default DEFAULT_BACKOFF_INITIAL_MS */
  readonly initialMs: number;
  /** Cap on every delay, in whole ms, ≥ initialMs and ≤ MAX_RESTART_DELAY_MS. @default DEFAULT_BACKOFF_MAX_MS */
  readonly maxMs: number;
  /** Growth of the delay per consecutive restart, ≥ 1. @default DEFAULT_BACKOFF_MULTIPLIER */
  readonly multiplier: number;
  /** Largest fraction of a delay taken off at random, 0 ≤ jitter < 1. @default DEFAULT_BACKOFF_JITTER */
  readonly jitter: number;
  /**
   * A run lasting at least this long (whole ms, ≥ 1) was stable: the attempt counter and the
   * restart count start again from zero. @default DEFAULT_BACKOFF_RESET_AFTER_MS
   */
  readonly resetAfterMs: number;
  /**
   * Restarts allowed without a stable run in between (whole number ≥ 0); null means no limit.
   * @default null
   */
  readonly maxRestarts: number | null;
}

export type RestartPolicy = { readonly kind: "never" } | { readonly kind: "always" } | BackoffPolicy;
export type RestartPolicyKind = RestartPolicy["kind"];

export const DEFAULT_BACKOFF_INITIAL_MS = 100;
export const DEFAULT_BACKOFF_MAX_MS = 30_000;
export const DEFAULT_BACKOFF_MULTIPLIER = 2;
export const DEFAULT_BACKOFF_JITTER = 0.1;
export const DEFAULT_BACKOFF_RESET_AFTER_MS = 60_000;
export const DEFAULT_BACKOFF_MAX_RESTARTS: number | null = null;
/** setTimeout fires at once for delays above 2^31−1 ms, so no delay may exceed it. */
export const MAX_RESTART_DELAY_MS = 2_147_483_647;

export const DEFAULT_BACKOFF: BackoffPolicy = Object.freeze({
  kind: "backoff",
  initialMs: DEFAULT_BACKOFF_INITIAL_MS,
  maxMs: DEFAULT_BACKOFF_MAX_MS,
  multiplier: DEFAULT_BACKOFF_MULTIPLIER,
  jitter: DEFAULT_BACKOFF_JITTER,
  resetAfterMs: DEFAULT_BACKOFF_RESET_AFTER_MS,
  maxRestarts: DEFAULT_BACKOFF_MAX_RESTARTS,
});

export const NEVER: RestartPolicy = Object.freeze({ kind: "never" });
export const ALWAYS: RestartPolicy = Object.freeze({ kind: "always" });

const BACKOFF_FIELDS: ReadonlySet<string> = new Set([
  "kind",
  "initialMs",
  "maxMs",
  "multiplier",
  "jitter",
  "resetAfterMs",
  "maxRestarts",
]);

function wholeMs(field: string, value: unknown, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > max) {
    throw invalid(`backoff ${field} must be a whole number of milliseconds from ${min} to ${max}`, {
      field,
      value: describe(value),
    });
  }
  return value;
}

/**
 * Checks a policy that arrives as data and returns it frozen. Missing backoff fields take the
 * defaults, so `{ kind: "backoff", maxRestarts: 5 }` is a complete policy.
 */
export function validateRestartPolicy(value: unknown): RestartPolicy {
  if (!isPlainObject(value)) throw invalid("a restart policy must be an object with a 'kind'", {});
  const kind = value["kind"];
  if (kind === "never" || kind === "always") {
    onlyFields("a restart policy", value, new Set(["kind"]));
    return kind === "never" ? NEVER : ALWAYS;
  }
  if (kind !== "backoff") {
    throw invalid(`unknown restart policy '${describe(kind)}'; use never, always or backoff`, {
      kind: describe(kind),
    });
  }
  onlyFields("a backoff restart policy", value, BACKOFF_FIELDS);
  const merged = { ...DEFAULT_BACKOFF, ...value };
  const initialMs = wholeMs("initialMs", merged.initialMs, 1, MAX_RESTART_DELAY_MS);
  const maxMs = wholeMs("maxMs", merged.maxMs, 1, MAX_RESTART_DELAY_MS);
  if (maxMs < initialMs) {
    throw invalid(
      `backoff max (${formatDurationMs(maxMs)}) must be at least initial (${formatDurationMs(initialMs)})`,
      { initialMs, maxMs },
    );
  }
  const { multiplier, jitter } = merged;
  if (typeof multiplier !== "number" || !Number.isFinite(multiplier) || multiplier < 1) {
    throw invalid("backoff multiplier must be a number ≥ 1 (1 keeps the delay constant)", {
      field: "multiplier",
      value: describe(multiplier),
    });
  }
  if (typeof jitter !== "number" || !Number.isFinite(jitter) || jitter < 0 || jitter >= 1) {
    throw invalid("backoff jitter must be a fraction with 0 ≤ jitter < 1", {
      field: "jitter",
      value: describe(jitter),
    });
  }
  const resetAfterMs = wholeMs("resetAfterMs", merged.resetAfterMs, 1, Number.MAX_SAFE_INTEGER);
  const maxRestarts = merged.maxRestarts;
  if (
    maxRestarts !== null &&
    (typeof maxRestarts !== "number" || !Number.isSafeInteger(maxRestarts) || maxRestarts < 0)
  ) {
    throw invalid("backoff maxRestarts must be a whole number ≥ 0, or null for no limit", {
      field: "maxRestarts",
      value: describe(maxRestarts),
    });
  }
  return Object.freeze({ kind: "backoff", initialMs, maxMs, multiplier, jitter, resetAfterMs, maxRestarts });
}

/** A backoff policy from the defaults and the given overrides, validated. */
export function backoffPolicy(options: Partial<Omit<BackoffPolicy, "kind">> = {}): BackoffPolicy {
  return validateRestartPolicy({ ...options, kind: "backoff" }) as BackoffPolicy;
}

// ---------------------------------------------------------------------------------------------
// text form

const TEXT_KEYS = ["initial", "max", "multiplier", "jitter", "reset", "max-restarts"] as const;
const DECIMAL = /^\d+(?:\.\d+)?(?:e[+-]?\d+)?$/i;
const POLICY_SYNTAX =
  "never, always, backoff, or backoff:initial=100ms,max=30s,multiplier=2,jitter=0.1,reset=1m,max-restarts=5";

function parseDecimal(key: string, text: string): number {
  if (!DECIMAL.test(text)) throw invalid(`backoff ${key} '${truncate(text, 32)}' is not a number`, { key });
  return Number(text);
}

/**
 * Reads `never`, `always`, `backoff` (all defaults) or
 * `backoff:initial=100ms,max=30s,multiplier=2,jitter=0.1,reset=1m,max-restarts=5`
 * (any subset, any order; `max-restarts=none` for no limit).
 */
export function parseRestartPolicy(text: string): RestartPolicy {
  if (typeof text !== "string") throw invalid(`a restart policy must be text: ${POLICY_SYNTAX}`, {});
  const trimmed = text.trim();
  if (trimmed === "never") return NEVER;
  if (trimmed === "always") return ALWAYS;
  if (trimmed === "backoff") return DEFAULT_BACKOFF;
  if (!trimmed.startsWith("backoff:")) {
    throw invalid(`unknown restart policy '${truncate(trimmed, 64)}'; write ${POLICY_SYNTAX}`, {
      policy: truncate(trimmed, 64),
    });
  }
  const overrides: Record<string, number | null> = {};
  const seen = new Set<string>();
  for (const pair of trimmed.slice("backoff:".length).split(",")) {
    const eq = pair.indexOf("=");
    const key = (eq < 0 ? pair : pair.slice(0, eq)).trim();
    const value = eq < 0 ? "" : pair.slice(eq + 1).trim();
    if (!(TEXT_KEYS as readonly string[]).includes(key)) {
      throw invalid(
        `unknown backoff setting '${truncate(key, 32)}'; the settings are ${TEXT_KEYS.join(", ")}`,
        {
          key: truncate(key, 32),
        },
      );
    }
    if (value.length === 0) throw invalid(`backoff setting '${key}' needs a value, as in ${key}=…`, { key });
    if (seen.has(key)) throw invalid(`backoff setting '${key}' is given twice`, { key });
    seen.add(key);
    switch (key) {
      case "initial":
        overrides["initialMs"] = parseDurationMs(value, "backoff initial");
        break;
      case "max":
        overrides["maxMs"] = parseDurationMs(value, "backoff max");
        break;
      case "reset":
        overrides["resetAfterMs"] = parseDurationMs(value, "backoff reset");
        break;
      case "multiplier":
        overrides["multiplier"] = parseDecimal(key, value);
        break;
      case "jitter":
        overrides["jitter"] = parseDecimal(key, value);
        break;
      case "max-restarts":
        overrides["maxRestarts"] =
          value === "none" || value === "unlimited" ? null : parseDecimal(key, value);
        break;
    }
  }
  return validateRestartPolicy({ ...overrides, kind: "backoff" });
}

/** The canonical text form, every setting spelt out; `parseRestartPolicy` reads it back exactly. */
export function formatRestartPolicy(policy: RestartPolicy): string {
  if (policy.kind !== "backoff") return policy.kind;
  return (
    `backoff:initial=${formatDurationMs(policy.initialMs)},max=${formatDurationMs(policy.maxMs)},` +
    `multiplier=${policy.multiplier},jitter=${policy.jitter},reset=${formatDurationMs(policy.resetAfterMs)},` +
    `max-restarts=${policy.maxRestarts === null ? "none" : policy.maxRestarts}`
  );
}

// ---------------------------------------------------------------------------------------------
// decisions

/** What the supervisor remembers about an instance between runs. */
export interface RestartHistory {
  /** Consecutive restarts since the last stable run; the exponent of the next delay. */
  readonly attempt: number;
  /** Restarts counted against `maxRestarts` (reset with `attempt` by a stable run). */
  readonly restarts: number;
  /** When the run that just ended started, ms. */
  readonly lastStartedAt: number;
}

export interface ExitEvent {
  readonly kind: "crashed" | "completed";
  /** When the run ended, ms (same clock as `lastStartedAt`). */
  readonly at: number;
}

export type RestartDecision =
  /** Start again after `delayMs`; store `attempt` and `restarts` as the new history. */
  | {
      readonly action: "restart";
      readonly delayMs: number;
      readonly attempt: number;
      readonly restarts: number;
    }
  | { readonly action: "give_up"; readonly reason: "restarts_exhausted"; readonly restarts: number }
  | { readonly action: "none" };

/** The history of an instance whose first run started at `startedAt`. */
export function initialRestartHistory(startedAt: number): RestartHistory {
  return { attempt: 0, restarts: 0, lastStartedAt: startedAt };
}

/**
 * min(maxMs, initialMs · multiplier^attempt) · (1 − jitter · random), floored to whole ms.
 * Never above maxMs; for jitter 0, never smaller for a larger attempt.
 */
export function backoffDelay(policy: BackoffPolicy, attempt: number, random: number): number {
  if (!(random >= 0 && random < 1)) {
    throw invalid(`random must be in [0, 1); got ${describe(random)}`, { random: describe(random) });
  }
  if (!(attempt >= 0)) throw invalid(`attempt must be ≥ 0; got ${describe(attempt)}`, {});
  // multiplier^attempt may overflow to Infinity; min() turns that into the cap.
  const base = Math.min(policy.maxMs, policy.initialMs * policy.multiplier ** attempt);
  return Math.floor(base * (1 - policy.jitter * random));
}

/**
 * What to do when a run ends. `random` is a sample from [0, 1) supplied by the caller so the
 * decision is replayable. The policy is trusted: validate it once where it enters.
 */
export function decideRestart(
  policy: RestartPolicy,
  history: RestartHistory,
  exit: ExitEvent,
  random: number,
): RestartDecision {
  switch (policy.kind) {
    case "never":
      return { action: "none" };
    case "always":
      return { action: "restart", delayMs: 0, attempt: history.attempt + 1, restarts: history.restarts + 1 };
    case "backoff": {
      // A clean exit is the program's decision to stop; backoff exists to ride out crashes.
      if (exit.kind === "completed") return { action: "none" };
      const stable = exit.at - history.lastStartedAt >= policy.resetAfterMs;
      const attempt = stable ? 0 : history.attempt;
      const restarts = stable ? 0 : history.restarts;
      if (policy.maxRestarts !== null && restarts >= policy.maxRestarts) {
        return { action: "give_up", reason: "restarts_exhausted", restarts };
      }
      return {
        action: "restart",
        delayMs: backoffDelay(policy, attempt, random),
        attempt: attempt + 1,
        restarts: restarts + 1,
      };
    }
  }
}

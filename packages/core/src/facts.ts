import {
  type CapabilityKind,
  DEFAULT_BINDING,
  type LocalProvider,
  parseBinding,
  parseCapabilityKind,
  parseProviderRef,
} from "./capabilities.js";
import { InstanceId, ModuleDigest, NodeId, type ProviderId } from "./ids.js";
import { MAX_ADDRESS_LENGTH, MAX_VERSION_LENGTH, validateLabels } from "./metadata.js";
import { formatPermission, type Permission, toPermission } from "./permissions.js";
import { TriggerName } from "./triggers.js";
import {
  describe,
  invalid,
  isPlainObject,
  onlyFields,
  requireCount,
  requireString,
  requireTimestamp,
  truncate,
} from "./validation.js";

/**
 * Execution facts: what happened, recorded once, never edited. The control plane rebuilds its
 * instance table from them and streams them to watchers; they hold ids, counters and short
 * reasons, never application data. Fields per kind are listed in docs/core.md.
 */

export const FACT_KINDS = [
  "instance.started",
  "instance.stopped",
  "instance.completed",
  "instance.crashed",
  "instance.restarted",
  "instance.restarts_exhausted",
  "instance.lost",
  "instance.pending",
  "node.registered",
  "node.lost",
  "capability.assigned",
  "capability.revoked",
  "app.deployed",
  "trigger.added",
  "trigger.removed",
  "trigger.fired",
] as const;

export type FactKind = (typeof FACT_KINDS)[number];

/** What a run cost, as the runtime meters it; allowed on completed and crashed facts. */
export interface RunMetering {
  readonly wallTimeMs?: number;
  readonly fuelUsed?: number;
  readonly peakMemoryBytes?: number;
  readonly hostCalls?: number;
}

export interface FactDataByKind {
  /** `kind`: whether the module runs as a WASI command or a waPC reactor. */
  "instance.started": {
    readonly moduleDigest?: ModuleDigest;
    readonly attempt?: number;
    readonly kind?: "command" | "reactor";
  };
  /** `reason`: why it stopped, e.g. "requested"; `forced`: the worker had to be terminated. */
  "instance.stopped": { readonly reason?: string; readonly forced?: boolean };
  "instance.completed": { readonly exitCode?: number } & RunMetering;
  /** `reason`: the classified cause (`unreachable`, `timeout`, `exit`…); `trap`: the message, for people. */
  "instance.crashed": {
    readonly reason: string;
    readonly trap?: string;
    readonly exitCode?: number;
  } & RunMetering;
  /**
   * `attempt`: the new attempt number (1 for the first restart after a stable run); `delayMs`: the
   * wait before it; `restarts`: restarts of this instance so far.
   */
  "instance.restarted": { readonly attempt: number; readonly delayMs: number; readonly restarts?: number };
  "instance.restarts_exhausted": { readonly restarts: number };
  "instance.lost": { readonly reason?: string };
  /**
   * An instance to start again (a lost `always`/`backoff` one) that no node can take yet: it
   * waits and starts once one can. `reason`: a short code (`no_eligible_node`); `detail`: why
   * each node was passed over, for people.
   */
  "instance.pending": { readonly reason: string; readonly detail?: string };
  "node.registered": {
    readonly address?: string;
    readonly version?: string;
    readonly labels?: Readonly<Record<string, string>>;
  };
  "node.lost": { readonly lastHeartbeatAt?: number };
  /** `binding` defaults to "default"; permissions are stored as canonical strings (`kv:read`). */
  "capability.assigned": {
    readonly capability: CapabilityKind;
    readonly binding?: string;
    readonly provider?: ProviderId | LocalProvider;
    readonly permissions?: readonly (string | Permission)[];
  };
  "capability.revoked": {
    readonly capability: CapabilityKind;
    readonly binding?: string;
    readonly provider?: ProviderId | LocalProvider;
  };
  /**
   * A deploy (or rollback) of an application put `revision` in service: `modules` maps each
   * component to its module digest; `manifestHash` is the sha256 of the manifest deployed;
   * `rolledBackFrom`: the revision a rollback replaced.
   */
  "app.deployed": {
    readonly app: string;
    readonly version: string;
    readonly revision: number;
    readonly manifestHash?: string;
    readonly modules?: Readonly<Record<string, ModuleDigest>>;
    readonly rolledBackFrom?: number;
  };
  /** `source`: `cron` or `queue`; `schedule`: the cron expression or the subject. */
  "trigger.added": { readonly trigger: string; readonly source?: string; readonly schedule?: string };
  "trigger.removed": { readonly trigger: string };
  /**
   * A cron tick's invocation of one target (`instanceId` on the envelope), or of none when the
   * target selected no instance. `outcome`: `ok`, `guest_error`, `crashed`, `error` or
   * `no_target`; `scheduledAt`: the tick, ms since the epoch; `code`/`detail`: why it failed.
   */
  "trigger.fired": {
    readonly trigger: string;
    readonly scheduledAt: number;
    readonly outcome: string;
    readonly code?: string;
    readonly detail?: string;
  };
}

export interface FactEnvelope {
  /** Position in this log: strictly increasing, assigned on append, never reused. */
  readonly seq: number;
  /** Who reported it: a node id, or the control plane's own name. */
  readonly source: string;
  /** The source's own counter: strictly increasing per source. */
  readonly sourceSeq: number;
  readonly instanceId?: InstanceId;
  readonly nodeId?: NodeId;
  /** When it happened, ms since the epoch, by the source's clock. */
  readonly at: number;
}

export type Fact<K extends FactKind = FactKind> = K extends FactKind
  ? FactEnvelope & { readonly kind: K; readonly data: FactDataByKind[K] }
  : never;

export type FactInput<K extends FactKind = FactKind> = K extends FactKind
  ? {
      readonly source: string;
      /** Set when relaying a remote source's fact; omitted, the log numbers it. */
      readonly sourceSeq?: number;
      readonly kind: K;
      readonly instanceId?: InstanceId | string;
      readonly nodeId?: NodeId | string;
      /** @default now() */
      readonly at?: number;
      readonly data?: FactDataByKind[K];
    }
  : never;

/** Free text (trap messages, reasons) is cut to this length rather than refused: the fact matters more. */
export const MAX_FACT_TEXT_LENGTH = 1024;
export const MAX_FACT_REASON_LENGTH = 64;
export const MAX_SOURCE_LENGTH = 128;

const SOURCE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;
const REASON_PATTERN = /^[A-Za-z0-9_.:()-]+$/;

type FieldCheck = (what: string, value: unknown) => unknown;

const text: FieldCheck = (what, value) => {
  if (typeof value !== "string") throw invalid(`${what} must be a string`, { field: what });
  return truncate(value, MAX_FACT_TEXT_LENGTH);
};
const reason: FieldCheck = (what, value) => {
  const s = requireString(what, value, MAX_FACT_REASON_LENGTH);
  if (!REASON_PATTERN.test(s))
    throw invalid(`${what} must be a short code such as 'timeout'`, { field: what });
  return s;
};
const int: FieldCheck = (what, value) => {
  if (typeof value !== "number" || !Number.isSafeInteger(value)) {
    throw invalid(`${what} must be a whole number`, { field: what, value: describe(value) });
  }
  return value;
};
const count: FieldCheck = (what, value) => requireCount(what, value, 0);
const amount: FieldCheck = (what, value) => {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw invalid(`${what} must be a non-negative number`, { field: what, value: describe(value) });
  }
  return value;
};
const flag: FieldCheck = (what, value) => {
  if (typeof value !== "boolean") throw invalid(`${what} must be true or false`, { field: what });
  return value;
};
const permissions: FieldCheck = (what, value) => {
  if (!Array.isArray(value) || value.length > 64) throw invalid(`${what} must be a list of permissions`, {});
  return Object.freeze(value.map((p) => formatPermission(toPermission(p))));
};
const capability: FieldCheck = (_, v) => parseCapabilityKind(v);
const binding: FieldCheck = (_, v) => parseBinding(v);
const provider: FieldCheck = (_, v) => parseProviderRef(v);
const moduleDigests: FieldCheck = (what, value) => {
  if (!isPlainObject(value) || Object.keys(value).length > 100) {
    throw invalid(`${what} must be an object of component → module digest`, { field: what });
  }
  return Object.freeze(
    Object.fromEntries(Object.entries(value).map(([k, v]) => [truncate(k, 64), ModuleDigest.parse(v)])),
  );
};
const METERING = { wallTimeMs: amount, fuelUsed: count, peakMemoryBytes: count, hostCalls: count };

interface KindSpec {
  /** Which id the fact is about; that id is required (`none`: neither is). */
  readonly subject: "instance" | "node" | "none";
  readonly required: Readonly<Record<string, FieldCheck>>;
  readonly optional: Readonly<Record<string, FieldCheck>>;
}

const SPECS: Readonly<Record<FactKind, KindSpec>> = {
  "instance.started": {
    subject: "instance",
    required: {},
    optional: {
      moduleDigest: (_, v) => ModuleDigest.parse(v),
      attempt: count,
      kind: (w, v) => {
        if (v !== "command" && v !== "reactor") throw invalid(`${w} must be 'command' or 'reactor'`, {});
        return v;
      },
    },
  },
  "instance.stopped": { subject: "instance", required: {}, optional: { reason, forced: flag } },
  "instance.completed": { subject: "instance", required: {}, optional: { exitCode: int, ...METERING } },
  "instance.crashed": {
    subject: "instance",
    required: { reason },
    optional: { trap: text, exitCode: int, ...METERING },
  },
  "instance.restarted": {
    subject: "instance",
    required: { attempt: count, delayMs: amount },
    optional: { restarts: count },
  },
  "instance.restarts_exhausted": { subject: "instance", required: { restarts: count }, optional: {} },
  "instance.lost": { subject: "instance", required: {}, optional: { reason } },
  "instance.pending": { subject: "instance", required: { reason }, optional: { detail: text } },
  "node.registered": {
    subject: "node",
    required: {},
    optional: {
      address: (w, v) => requireString(w, v, MAX_ADDRESS_LENGTH),
      version: (w, v) => requireString(w, v, MAX_VERSION_LENGTH),
      labels: (_, v) => validateLabels(v),
    },
  },
  "node.lost": { subject: "node", required: {}, optional: { lastHeartbeatAt: requireTimestamp } },
  "capability.assigned": {
    subject: "instance",
    required: { capability },
    optional: { binding, provider, permissions },
  },
  "capability.revoked": { subject: "instance", required: { capability }, optional: { binding, provider } },
  "app.deployed": {
    subject: "none",
    required: {
      app: (w, v) => requireString(w, v, 64),
      version: (w, v) => requireString(w, v, 64),
      revision: count,
    },
    optional: {
      manifestHash: (_, v) => ModuleDigest.parse(v),
      modules: moduleDigests,
      rolledBackFrom: count,
    },
  },
  "trigger.added": {
    subject: "none",
    required: { trigger: (w, v) => TriggerName.parse(requireString(w, v, 128)) },
    optional: { source: reason, schedule: text },
  },
  "trigger.removed": {
    subject: "none",
    required: { trigger: (w, v) => TriggerName.parse(requireString(w, v, 128)) },
    optional: {},
  },
  "trigger.fired": {
    subject: "none",
    required: {
      trigger: (w, v) => TriggerName.parse(requireString(w, v, 128)),
      scheduledAt: requireTimestamp,
      outcome: reason,
    },
    optional: { code: reason, detail: text },
  },
};

const ENVELOPE_FIELDS: ReadonlySet<string> = new Set([
  "source",
  "sourceSeq",
  "kind",
  "instanceId",
  "nodeId",
  "at",
  "data",
]);

export function isFactKind(value: unknown): value is FactKind {
  return typeof value === "string" && Object.hasOwn(SPECS, value);
}

export function parseFactKind(value: unknown): FactKind {
  if (isFactKind(value)) return value;
  throw invalid(`unknown fact kind '${describe(value)}'; kinds are ${FACT_KINDS.join(", ")}`, {
    kind: describe(value),
  });
}

export function parseSource(value: unknown): string {
  const source = requireString("fact source", value, MAX_SOURCE_LENGTH);
  if (!SOURCE_PATTERN.test(source)) {
    throw invalid(`fact source '${source}' must be an id-like name ([A-Za-z0-9._:-])`, { source });
  }
  return source;
}

/** A validated, frozen fact input: envelope fields checked, data reduced to its declared fields. */
export interface CheckedFactInput {
  readonly source: string;
  readonly sourceSeq: number | undefined;
  readonly kind: FactKind;
  readonly instanceId: InstanceId | undefined;
  readonly nodeId: NodeId | undefined;
  readonly at: number | undefined;
  readonly data: Readonly<Record<string, unknown>>;
}

export function validateFactInput(value: unknown): CheckedFactInput {
  if (!isPlainObject(value)) throw invalid("a fact must be an object", {});
  onlyFields("a fact", value, ENVELOPE_FIELDS);
  const kind = parseFactKind(value["kind"]);
  const spec = SPECS[kind];
  const source = parseSource(value["source"]);
  const sourceSeq =
    value["sourceSeq"] === undefined ? undefined : requireCount("sourceSeq", value["sourceSeq"], 1);
  const instanceId = value["instanceId"] === undefined ? undefined : InstanceId.parse(value["instanceId"]);
  const nodeId = value["nodeId"] === undefined ? undefined : NodeId.parse(value["nodeId"]);
  if (spec.subject === "instance" && instanceId === undefined) {
    throw invalid(`a ${kind} fact needs an instanceId`, { kind });
  }
  if (spec.subject === "node" && nodeId === undefined)
    throw invalid(`a ${kind} fact needs a nodeId`, { kind });
  const at = value["at"] === undefined ? undefined : requireTimestamp("fact time 'at'", value["at"]);

  const rawData = value["data"] ?? {};
  if (!isPlainObject(rawData)) throw invalid(`the data of a ${kind} fact must be an object`, { kind });
  const data: Record<string, unknown> = {};
  for (const [key, raw] of Object.entries(rawData)) {
    // Own properties only: `constructor` or `toString` must not find Object.prototype.
    const check = Object.hasOwn(spec.required, key)
      ? spec.required[key]
      : Object.hasOwn(spec.optional, key)
        ? spec.optional[key]
        : undefined;
    if (check === undefined) {
      const allowed = [...Object.keys(spec.required), ...Object.keys(spec.optional)];
      throw invalid(
        `facts hold only metadata: field '${truncate(key, 64)}' is not allowed in ${kind} (allowed: ${allowed.join(", ") || "none"})`,
        { kind, field: truncate(key, 64) },
      );
    }
    // null is "not given": protobuf-minded callers send it for empty optionals.
    if (raw !== undefined && raw !== null) data[key] = check(`${kind} ${key}`, raw);
  }
  if (kind.startsWith("capability.") && data["binding"] === undefined) data["binding"] = DEFAULT_BINDING;
  for (const key of Object.keys(spec.required)) {
    if (data[key] === undefined) throw invalid(`a ${kind} fact needs data.${key}`, { kind, field: key });
  }
  return { source, sourceSeq, kind, instanceId, nodeId, at, data: Object.freeze(data) };
}

import type * as pb from "@wasmatrix/proto";
import { factData, restartPolicyText } from "./json.js";
import { EMPTY_CELL, formatPairs, formatTable } from "./table.js";
import { formatAge, formatAgo, formatBytes, formatElapsed, formatTimestamp } from "./time-format.js";

/** The human-readable forms of the protocol's messages. `now` is a parameter so output is testable. */

/** Statuses after which an instance runs no more and will not by itself: `ps` hides them unless `--all`. */
export const ENDED_STATUSES: ReadonlySet<string> = new Set(["stopped", "completed"]);

const DIGEST_CHARS = 12;

/** The first 12 hex digits of `sha256:…`, as `docker images` shortens ids. */
export function shortDigest(digest: string): string {
  const hex = digest.startsWith("sha256:") ? digest.slice("sha256:".length) : digest;
  return hex.slice(0, DIGEST_CHARS);
}

export function formatLabels(labels: Readonly<Record<string, string>>): string {
  const entries = Object.entries(labels);
  return entries.length === 0 ? EMPTY_CELL : entries.map(([k, v]) => `${k}=${v}`).join(",");
}

export function instancesTable(instances: readonly pb.Instance[], now: number): string {
  return formatTable(
    ["ID", "STATUS", "KIND", "NODE", { header: "RESTARTS", align: "right" }, "AGE", "DIGEST"],
    instances.map((i) => [
      i.instanceId,
      i.status,
      i.kind,
      i.nodeId,
      i.restarts,
      formatAge(now - i.createdAtMs),
      shortDigest(i.moduleDigest),
    ]),
  );
}

export function assignmentsTable(assignments: readonly pb.CapabilityAssignment[]): string {
  return formatTable(
    ["CAPABILITY", "BINDING", "PROVIDER", "PERMISSIONS"],
    assignments.map((a) => [
      a.capability,
      a.binding || "default",
      a.provider || "local",
      a.permissions.join(","),
    ]),
  );
}

export function nodesTable(nodes: readonly pb.Node[], now: number): string {
  return formatTable(
    ["NODE", "STATUS", "LABELS", "CAPABILITIES", { header: "INSTANCES", align: "right" }, "LAST HEARTBEAT"],
    nodes.map((n) => [
      n.nodeId,
      n.status,
      formatLabels(n.labels),
      n.capabilities.join(","),
      n.instances,
      formatAgo(n.lastHeartbeatMs, now),
    ]),
  );
}

/**
 * Widths of a fact line's fields. A stream can not be measured in advance as a table is, so
 * fields get widths that fit the usual values: sequence numbers below 10 000 000, the widest kind
 * (`instance.restarts_exhausted`), and generated ids (`node-` or `inst-` and 20 hex digits). A
 * longer id is cut to its column with `…` (`--json` has it whole), so columns stay under the header.
 */
const SEQ_WIDTH = 7;
const TIME_WIDTH = 24;
const KIND_WIDTH = 27;
const ID_WIDTH = 25;

/** `text` padded to `width`, or cut to it with a trailing `…`. */
function fit(text: string, width: number): string {
  const chars = [...text];
  return chars.length <= width ? text.padEnd(width) : `${chars.slice(0, width - 1).join("")}…`;
}

/** The header over `factLine`s, printed once at the top of `events`. */
export function factHeader(): string {
  return [
    fit("SEQ", SEQ_WIDTH),
    fit("TIME", TIME_WIDTH),
    fit("KIND", KIND_WIDTH),
    fit("INSTANCE", ID_WIDTH),
    fit("NODE", ID_WIDTH),
    "DATA",
  ].join("  ");
}

/** `seq time kind instance node data` on one line, under `factHeader`. */
export function factLine(fact: pb.Fact): string {
  const data = factData(fact);
  return [
    String(fact.seq).padEnd(SEQ_WIDTH),
    fit(formatTimestamp(fact.atMs), TIME_WIDTH),
    fit(fact.kind, KIND_WIDTH),
    fit(fact.instanceId || EMPTY_CELL, ID_WIDTH),
    fit(fact.nodeId || EMPTY_CELL, ID_WIDTH),
    Object.keys(data).length === 0 ? "" : JSON.stringify(data),
  ]
    .join("  ")
    .trimEnd();
}

export function limitsText(limits: pb.InstanceLimits | undefined): string {
  if (limits === undefined) return "defaults";
  const parts = [
    `memory ${limits.maxMemoryBytes > 0 ? formatBytes(limits.maxMemoryBytes) : "default"}`,
    `fuel ${limits.fuel > 0 ? limits.fuel.toLocaleString("en-US") : "default"}`,
    `invoke timeout ${limits.invokeTimeoutMs > 0 ? formatElapsed(limits.invokeTimeoutMs) : "default"}`,
    `run timeout ${limits.runTimeoutMs > 0 ? formatElapsed(limits.runTimeoutMs) : "none"}`,
  ];
  if (limits.maxHostCallPayloadBytes > 0)
    parts.push(`host-call payload ${formatBytes(limits.maxHostCallPayloadBytes)}`);
  if (limits.maxOutputBytes > 0) parts.push(`output ${formatBytes(limits.maxOutputBytes)}`);
  if (limits.maxConcurrency > 0) parts.push(`concurrency ${limits.maxConcurrency}`);
  if (limits.queueDepth > 0) parts.push(`queue ${limits.queueDepth}`);
  return parts.join(", ");
}

export function outcomeText(outcome: pb.Outcome | undefined): string {
  if (outcome === undefined) return EMPTY_CELL;
  if (outcome.status === "ok") return `ok, exit code ${outcome.exitCode}`;
  const reason = outcome.reason === "exit" ? `exit(${outcome.exitCode})` : outcome.reason;
  return outcome.trap === "" ? `crashed: ${reason}` : `crashed: ${reason}: ${outcome.trap}`;
}

export function meteringText(metering: pb.Metering | undefined): string {
  if (metering === undefined) return EMPTY_CELL;
  return [
    `wall ${formatElapsed(metering.wallTimeMs)}`,
    `fuel ${metering.fuelUsed.toLocaleString("en-US")}`,
    `peak memory ${formatBytes(metering.peakMemoryBytes)}`,
    `host calls ${metering.hostCalls}`,
  ].join(", ");
}

/** What `inspect` prints: the instance's state, then its assignments, then what happened to it. */
export function instanceDetails(query: pb.QueryInstanceResponse, now: number): string {
  const i = query.instance;
  if (i === undefined) return "";
  const sections = [
    formatPairs([
      ["ID", i.instanceId],
      ["STATUS", i.status],
      ["KIND", i.kind],
      ["NODE", i.nodeId],
      ["MODULE", i.moduleDigest],
      ["RESTART POLICY", restartPolicyText(i.restartPolicy)],
      ["RESTARTS", i.restarts],
      ["TENANT", i.tenant === "" ? "default" : i.tenant],
      ["DENIED CALLS", i.deniedCalls],
      ["CREATED", `${formatTimestamp(i.createdAtMs)} (${formatAgo(i.createdAtMs, now)})`],
      ["UPDATED", `${formatTimestamp(i.updatedAtMs)} (${formatAgo(i.updatedAtMs, now)})`],
      ["LABELS", formatLabels(i.labels)],
      ["LIMITS", limitsText(i.limits)],
      ["LAST OUTCOME", outcomeText(i.lastOutcome)],
      ["METERING", meteringText(i.lastOutcome?.metering)],
    ]),
    `ASSIGNMENTS\n${i.assignments.length === 0 ? "(none)\n" : assignmentsTable(i.assignments)}`,
    `RECENT FACTS\n${
      query.recentFacts.length === 0
        ? "(none)\n"
        : formatTable(
            ["TIME", "KIND", "DATA"],
            query.recentFacts.map((f) => {
              const data = factData(f);
              return [
                formatTimestamp(f.atMs),
                f.kind,
                Object.keys(data).length === 0 ? "" : JSON.stringify(data),
              ];
            }),
          )
    }`,
  ];
  return sections.join("\n");
}

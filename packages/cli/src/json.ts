import { formatRestartPolicy } from "@wasmatrix/core";
import type * as pb from "@wasmatrix/proto";
import { restartPolicyFromProto } from "@wasmatrix/proto";

/**
 * The `--json` shapes. Plain data with every field present (the protocol leaves zero values
 * out, a script should not have to guess them), times in ms since the epoch under `…Ms` names,
 * and fact data parsed rather than left as a JSON string. These shapes are part of the CLI's
 * interface (docs/cli.md): add fields, never rename or remove them.
 */

/** The policy in the text form `--restart` accepts, so `inspect --json` output can be replayed. */
export function restartPolicyText(policy: pb.RestartPolicy | undefined): string {
  try {
    return formatRestartPolicy(restartPolicyFromProto(policy));
  } catch {
    // A policy this CLI cannot validate (a newer server's?) is still worth showing by name.
    return policy?.policy?.$case ?? "never";
  }
}

export interface OutcomeJson {
  status: string;
  reason: string | null;
  trap: string | null;
  exitCode: number;
  metering: pb.Metering | null;
}

export function outcomeJson(outcome: pb.Outcome | undefined): OutcomeJson | null {
  if (outcome === undefined) return null;
  return {
    status: outcome.status,
    reason: outcome.reason === "" ? null : outcome.reason,
    trap: outcome.trap === "" ? null : outcome.trap,
    exitCode: outcome.exitCode,
    metering: outcome.metering ?? null,
  };
}

export function assignmentJson(assignment: pb.CapabilityAssignment): pb.CapabilityAssignment {
  return {
    capability: assignment.capability,
    provider: assignment.provider || "local",
    binding: assignment.binding || "default",
    permissions: [...assignment.permissions],
  };
}

export function instanceJson(instance: pb.Instance) {
  return {
    instanceId: instance.instanceId,
    status: instance.status,
    kind: instance.kind,
    nodeId: instance.nodeId,
    moduleDigest: instance.moduleDigest,
    restartPolicy: restartPolicyText(instance.restartPolicy),
    restarts: instance.restarts,
    tenant: instance.tenant === "" ? "default" : instance.tenant,
    deniedCalls: instance.deniedCalls,
    assignments: instance.assignments.map(assignmentJson),
    limits: instance.limits ?? null,
    labels: { ...instance.labels },
    lastOutcome: outcomeJson(instance.lastOutcome),
    createdAtMs: instance.createdAtMs,
    updatedAtMs: instance.updatedAtMs,
  };
}

/** Fact data is a JSON object on the wire; unreadable data becomes `{}` rather than losing the fact. */
export function factData(fact: pb.Fact): Record<string, unknown> {
  try {
    const data: unknown = JSON.parse(fact.dataJson || "{}");
    return typeof data === "object" && data !== null && !Array.isArray(data)
      ? (data as Record<string, unknown>)
      : {};
  } catch {
    return {};
  }
}

export function factJson(fact: pb.Fact) {
  return {
    seq: fact.seq,
    kind: fact.kind,
    atMs: fact.atMs,
    instanceId: fact.instanceId === "" ? null : fact.instanceId,
    nodeId: fact.nodeId === "" ? null : fact.nodeId,
    source: fact.source,
    sourceSeq: fact.sourceSeq,
    data: factData(fact),
  };
}

export function nodeJson(node: pb.Node) {
  return {
    nodeId: node.nodeId,
    status: node.status,
    address: node.address,
    labels: { ...node.labels },
    capabilities: [...node.capabilities],
    instances: node.instances,
    lastHeartbeatMs: node.lastHeartbeatMs,
    version: node.version,
  };
}

export function logLineJson(line: pb.LogLine) {
  return {
    instanceId: line.instanceId,
    run: line.run,
    stream: line.stream,
    text: line.text,
    atMs: line.atMs,
  };
}

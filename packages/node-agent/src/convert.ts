import { tenantOf } from "@wasmatrix/core";
import type * as pb from "@wasmatrix/proto";
import {
  assignmentFromProto,
  assignmentToProto,
  restartPolicyFromProto,
  restartPolicyToProto,
} from "@wasmatrix/proto";
import type { InstanceLimits, Outcome } from "@wasmatrix/runtime";
import type { AdmissionLimits } from "./admission.js";
import type { StartSpec } from "./agent.js";
import type { LogLine } from "./logs.js";
import type { InstanceView } from "./managed-instance.js";

/** Mapping between the node agent's own types and the protocol's messages, in both directions. */

export function limitsToProto(limits: InstanceLimits, admission?: AdmissionLimits): pb.InstanceLimits {
  return {
    maxConcurrency: admission?.maxConcurrency ?? 0,
    queueDepth: admission?.queueDepth ?? 0,
    maxMemoryBytes: limits.maxMemoryBytes,
    fuel: limits.fuel,
    invokeTimeoutMs: limits.invokeTimeoutMs,
    runTimeoutMs: limits.runTimeoutMs ?? 0,
    maxHostCallPayloadBytes: limits.maxHostCallPayloadBytes,
    maxOutputBytes: limits.maxOutputBytes,
  };
}

/** Zero fields mean "the default", so they are left out. */
export function limitsFromProto(limits: pb.InstanceLimits | undefined): Partial<InstanceLimits> {
  const out: Partial<InstanceLimits> = {};
  if (limits === undefined) return out;
  if (limits.maxMemoryBytes > 0) out.maxMemoryBytes = limits.maxMemoryBytes;
  if (limits.fuel > 0) out.fuel = limits.fuel;
  if (limits.invokeTimeoutMs > 0) out.invokeTimeoutMs = limits.invokeTimeoutMs;
  if (limits.runTimeoutMs > 0) out.runTimeoutMs = limits.runTimeoutMs;
  if (limits.maxHostCallPayloadBytes > 0) out.maxHostCallPayloadBytes = limits.maxHostCallPayloadBytes;
  if (limits.maxOutputBytes > 0) out.maxOutputBytes = limits.maxOutputBytes;
  return out;
}

/** Zero fields mean "the default", so they are left out. */
export function admissionFromProto(limits: pb.InstanceLimits | undefined): Partial<AdmissionLimits> {
  const out: Partial<AdmissionLimits> = {};
  if (limits === undefined) return out;
  if (limits.maxConcurrency > 0) out.maxConcurrency = limits.maxConcurrency;
  if (limits.queueDepth > 0) out.queueDepth = limits.queueDepth;
  return out;
}

export function outcomeToProto(outcome: Outcome | null | undefined): pb.Outcome | undefined {
  if (outcome === null || outcome === undefined) return undefined;
  return {
    status: outcome.status,
    reason: outcome.status === "crashed" ? outcome.reason : "",
    trap: outcome.status === "crashed" ? outcome.trap : "",
    exitCode: outcome.exitCode ?? 0,
    metering: {
      wallTimeMs: outcome.metering.wallTimeMs,
      fuelUsed: outcome.metering.fuelUsed,
      peakMemoryBytes: outcome.metering.peakMemoryBytes,
      hostCalls: outcome.metering.hostCalls,
    },
  };
}

export function viewToProto(view: InstanceView): pb.Instance {
  return {
    instanceId: view.instanceId,
    moduleDigest: view.moduleDigest,
    nodeId: view.nodeId,
    status: view.status,
    kind: view.kind,
    restartPolicy: restartPolicyToProto(view.restartPolicy),
    assignments: view.assignments.map(assignmentToProto),
    restarts: view.restarts,
    lastOutcome: outcomeToProto(view.lastOutcome),
    createdAtMs: view.createdAt,
    updatedAtMs: view.updatedAt,
    labels: view.labels,
    limits: limitsToProto(view.limits, view.admission),
    args: view.args,
    env: view.env,
    requiredNodeLabels: view.placement.required,
    preferredNodeLabels: view.placement.preferred,
    tenant: view.tenant,
    deniedCalls: view.calls.denied,
    extism:
      view.extism === undefined
        ? undefined
        : { config: view.extism.config, maxVarBytes: view.extism.maxVarBytes ?? 0 },
  };
}

export function startSpecFromProto(request: pb.StartInstanceRequest): StartSpec {
  const spec: StartSpec = {
    args: request.args,
    env: request.env,
    limits: limitsFromProto(request.limits),
    admission: admissionFromProto(request.limits),
    restartPolicy: restartPolicyFromProto(request.restartPolicy),
    assignments: request.assignments.map(assignmentFromProto),
    labels: request.labels,
    placement: { required: request.requiredNodeLabels, preferred: request.preferredNodeLabels },
  };
  if (request.instanceId !== "") spec.instanceId = request.instanceId;
  if (request.module.byteLength > 0) spec.module = request.module;
  if (request.moduleDigest !== "") spec.moduleDigest = request.moduleDigest;
  spec.tenant = tenantOf(request.tenant);
  if (request.extism !== undefined) {
    spec.extism = {
      config: request.extism.config,
      ...(request.extism.maxVarBytes > 0 ? { maxVarBytes: request.extism.maxVarBytes } : {}),
    };
  }
  if (request.moduleSignature !== "") spec.signature = request.moduleSignature;
  return spec;
}

export function logLineToProto(line: LogLine): pb.LogLine {
  return { instanceId: line.instanceId, stream: line.stream, text: line.text, atMs: line.at, run: line.run };
}

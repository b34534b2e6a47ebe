import {
  type CapabilityAssignment,
  ErrorCode,
  type Fact,
  formatPermission,
  LOCAL_PROVIDER,
  type ProviderMetadata,
  parsePermission,
  type RestartPolicy,
  validateAssignment,
  validateRestartPolicy,
  WasmatrixError,
} from "@wasmatrix/core";
import type * as pb from "./generated/wasmatrix/v1/types.js";

/** Mapping between the core's types and the protocol's messages, in both directions. */

export function restartPolicyToProto(policy: RestartPolicy): pb.RestartPolicy {
  switch (policy.kind) {
    case "never":
      return { policy: { $case: "never", value: {} } };
    case "always":
      return { policy: { $case: "always", value: {} } };
    case "backoff":
      // The wire fields are 32-bit: a larger value would arrive wrapped, meaning something else.
      if (policy.resetAfterMs > 0xffffffff || (policy.maxRestarts ?? 0) > 0x7fffffff) {
        throw new WasmatrixError(
          ErrorCode.INVALID_REQUEST,
          "backoff resetAfterMs must fit in 32 bits unsigned and maxRestarts in 32 bits signed",
          { resetAfterMs: policy.resetAfterMs, maxRestarts: policy.maxRestarts },
        );
      }
      return {
        policy: {
          $case: "backoff",
          value: {
            initialMs: policy.initialMs,
            maxMs: policy.maxMs,
            multiplier: policy.multiplier,
            jitter: policy.jitter,
            resetAfterMs: policy.resetAfterMs,
            maxRestarts: policy.maxRestarts ?? -1,
          },
        },
      };
  }
}

export function restartPolicyFromProto(policy: pb.RestartPolicy | undefined): RestartPolicy {
  const value = policy?.policy;
  if (value === undefined || value.$case === "never") return { kind: "never" };
  if (value.$case === "always") return { kind: "always" };
  const b = value.value;
  return validateRestartPolicy({
    kind: "backoff",
    initialMs: b.initialMs,
    maxMs: b.maxMs,
    multiplier: b.multiplier,
    jitter: b.jitter,
    resetAfterMs: b.resetAfterMs,
    maxRestarts: b.maxRestarts < 0 ? null : b.maxRestarts,
  });
}

export function assignmentToProto(assignment: CapabilityAssignment): pb.CapabilityAssignment {
  return {
    capability: assignment.capability,
    provider: assignment.provider,
    binding: assignment.binding,
    permissions: assignment.permissions.map(formatPermission),
  };
}

export function assignmentFromProto(assignment: pb.CapabilityAssignment | undefined): CapabilityAssignment {
  if (assignment === undefined) {
    throw new WasmatrixError(ErrorCode.INVALID_REQUEST, "an assignment is required");
  }
  return validateAssignment({
    capability: assignment.capability,
    provider: assignment.provider === "" ? "local" : assignment.provider,
    binding: assignment.binding === "" ? "default" : assignment.binding,
    permissions: assignment.permissions.map((p) => parsePermission(p)),
  });
}

export function factToProto(fact: Fact): pb.Fact {
  return {
    seq: fact.seq,
    source: fact.source,
    sourceSeq: fact.sourceSeq,
    kind: fact.kind,
    instanceId: fact.instanceId ?? "",
    nodeId: fact.nodeId ?? "",
    atMs: fact.at,
    dataJson: JSON.stringify(fact.data ?? {}),
    // Filled where the instance's tenant is known: the control plane's API edge.
    tenant: "",
  };
}

export function factFromProto(fact: pb.Fact): Fact {
  let data: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(fact.dataJson || "{}");
    if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed))
      data = parsed as Record<string, unknown>;
  } catch {
    // A fact whose data does not parse keeps its kind and ids; the data is lost, not the fact.
  }
  return {
    seq: fact.seq,
    source: fact.source,
    sourceSeq: fact.sourceSeq,
    kind: fact.kind,
    ...(fact.instanceId === "" ? {} : { instanceId: fact.instanceId }),
    ...(fact.nodeId === "" ? {} : { nodeId: fact.nodeId }),
    at: fact.atMs,
    data,
  } as Fact;
}

/** Generated messages hold `bytes` fields as Buffers; this wraps a Uint8Array without copying it. */
/**
 * A provider process's etcd record as the protocol names a live provider, or null for a record
 * without a reachable address (`"local"`: it serves only the node it runs in).
 */
export function liveProviderFromMetadata(record: ProviderMetadata, now: number): pb.Provider | null {
  if (record.address === LOCAL_PROVIDER) return null;
  return {
    providerId: record.providerId,
    capability: record.capability,
    address: record.address,
    version: record.version,
    status: "alive",
    lastHeartbeatMs: now,
  };
}

export function toBuffer(bytes: Uint8Array | undefined): Buffer {
  if (bytes === undefined) return Buffer.alloc(0);
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * What starts `instance` again as it was recorded: same id, module (by digest; bytes when given),
 * args, env, limits, restart policy, assignments and labels. The control plane uses it for a lost
 * instance; `wasmatrix start --id` for a stopped one.
 */
export function startRequestFor(instance: pb.Instance, module?: Uint8Array): pb.StartInstanceRequest {
  return {
    instanceId: instance.instanceId,
    module: toBuffer(module),
    moduleDigest: module === undefined ? instance.moduleDigest : "",
    args: [...instance.args],
    env: { ...instance.env },
    limits: instance.limits,
    restartPolicy: instance.restartPolicy,
    assignments: [...instance.assignments],
    labels: { ...instance.labels },
    requiredNodeLabels: { ...instance.requiredNodeLabels },
    preferredNodeLabels: { ...instance.preferredNodeLabels },
    tenant: instance.tenant,
    // The bytes travel by digest: a tag may point elsewhere by now.
    moduleRef: "",
    extism: instance.extism,
    // The control plane keeps the signature of each module it admitted and adds it (Launcher).
    moduleSignature: "",
  };
}

import {
  CAPABILITY_NAMESPACES,
  type CapabilityAssignment,
  type CapabilityKind,
  capabilityOfNamespace,
  DEFAULT_BINDING,
  findAssignment,
} from "./capabilities.js";
import { ErrorCode, errors, WasmatrixError } from "./errors.js";
import {
  CAPABILITY_OF_PERMISSION,
  checkPermission,
  type Permission,
  type PermissionRequest,
} from "./permissions.js";
import { truncate } from "./validation.js";

/**
 * The one decision "may this capability call go through?", taken in two steps because the
 * permission a call needs is known only once the assignment names its provider: the node's
 * router, a provider process and the control plane all call these, so the answers and the
 * detail in a refusal cannot drift apart.
 */

/** Where a host call comes from: `__host_call(binding, namespace, …)` of an instance. */
export interface HostCall {
  readonly namespace: string;
  /** Empty or missing means the default binding. */
  readonly binding?: string;
  /** For messages and details; not part of the decision. */
  readonly instanceId?: string;
}

/** What a request is checked against: an assignment, or its capability and grants as a provider process receives them. */
export interface Grant {
  readonly capability: CapabilityKind;
  readonly permissions: readonly Permission[];
  readonly binding?: string;
}

/**
 * Step one: the assignment a call routes to. Throws CAPABILITY_NOT_ASSIGNED for a namespace
 * wasmatrix does not know and for a capability or binding the instance was not assigned.
 */
export function resolveAssignment(
  assignments: readonly CapabilityAssignment[],
  call: HostCall,
): CapabilityAssignment {
  const binding = call.binding === undefined || call.binding === "" ? DEFAULT_BINDING : call.binding;
  const who = call.instanceId === undefined ? "the instance" : `instance '${call.instanceId}'`;
  const ids = call.instanceId === undefined ? {} : { instanceId: call.instanceId };
  const capability = capabilityOfNamespace(call.namespace);
  if (capability === null) {
    throw new WasmatrixError(
      ErrorCode.CAPABILITY_NOT_ASSIGNED,
      `unknown capability namespace '${truncate(String(call.namespace), 64)}'; namespaces are ${Object.values(CAPABILITY_NAMESPACES).join(", ")}`,
      { namespace: truncate(String(call.namespace), 64), binding: truncate(binding, 64), ...ids },
    );
  }
  const assignment = findAssignment(assignments, capability, binding);
  if (assignment === undefined) {
    const spec = `${capability}${binding === DEFAULT_BINDING ? "" : `#${binding}`}=<permissions>`;
    throw new WasmatrixError(
      ErrorCode.CAPABILITY_NOT_ASSIGNED,
      `${who} has no ${capability} assignment with binding '${truncate(binding, 64)}'; assign one with: wasmatrix caps assign ${call.instanceId ?? "<id>"} ${spec}`,
      { capability, namespace: call.namespace, binding: truncate(binding, 64), ...ids },
    );
  }
  return assignment;
}

/**
 * Step two: throws PERMISSION_DENIED unless the grant allows the request, with the operation,
 * the resource and the permission that would allow it as details. `request` is null only for
 * logging, which the assignment alone allows.
 */
export function authorizeRequest(
  grant: Grant,
  request: PermissionRequest | null,
  context: { readonly instanceId?: string } = {},
): void {
  if (request === null) {
    if (grant.capability === "logging") return;
    throw errors.internal(`a ${grant.capability} call reached authorization without a permission request`);
  }
  if (CAPABILITY_OF_PERMISSION[request.kind] !== grant.capability) {
    throw errors.internal(
      `a ${request.kind} permission request was made under capability ${grant.capability}`,
    );
  }
  checkPermission(grant.permissions, request, {
    ...(grant.binding === undefined ? {} : { binding: grant.binding }),
    ...(context.instanceId === undefined ? {} : { instanceId: context.instanceId }),
  });
}

/** Both steps, for a caller that knows the permission request before it knows the assignment. */
export function authorizeHostCall(
  assignments: readonly CapabilityAssignment[],
  call: HostCall,
  request: PermissionRequest | null,
): CapabilityAssignment {
  const assignment = resolveAssignment(assignments, call);
  authorizeRequest(assignment, request, call);
  return assignment;
}

import { CAPABILITY_KINDS, type CapabilityKind } from "./capability-kinds.js";
import { ErrorCode, WasmatrixError } from "./errors.js";
import { ProviderId } from "./ids.js";
import {
  CAPABILITY_OF_PERMISSION,
  formatPermission,
  type Permission,
  parsePermission,
  toPermission,
} from "./permissions.js";
import { invalid, onlyFields, requireObject, truncate } from "./validation.js";

/**
 * Capabilities an instance can be given, the namespaces guests name them by in `__host_call`,
 * and assignments: which provider serves a capability to an instance, under which binding name,
 * with which permissions.
 */

export {
  CAPABILITY_KINDS,
  type CapabilityKind,
  isProvidedCapabilityKind,
  PROVIDED_CAPABILITY_KINDS,
  type ProvidedCapabilityKind,
} from "./capability-kinds.js";

/** The `namespace` argument of `__host_call` (see docs/abi.md). */
export type CapabilityNamespace = `wasmatrix:${CapabilityKind}`;
const NAMESPACE_PREFIX = "wasmatrix:";

export const CAPABILITY_NAMESPACES: Readonly<Record<CapabilityKind, CapabilityNamespace>> = {
  keyvalue: "wasmatrix:keyvalue",
  http: "wasmatrix:http",
  messaging: "wasmatrix:messaging",
  logging: "wasmatrix:logging",
  // Reached through WASI preopens, never through __host_call; named for completeness.
  filesystem: "wasmatrix:filesystem",
};

/** The provider value meaning "served inside the node agent's process". */
export const LOCAL_PROVIDER = "local";
export type LocalProvider = typeof LOCAL_PROVIDER;

/** The binding a guest gets when it names none. */
export const DEFAULT_BINDING = "default";
export const MAX_BINDING_LENGTH = 64;
export const MAX_PERMISSIONS_PER_ASSIGNMENT = 64;
export const MAX_ASSIGNMENTS_PER_INSTANCE = 32;

// The same alphabet as ids: a binding travels in host calls, log fields and facts.
const BINDING_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export interface CapabilityAssignment {
  readonly capability: CapabilityKind;
  /** A remote provider's id, or `"local"`. */
  readonly provider: ProviderId | LocalProvider;
  /** The name the guest passes as `binding`; `"default"` unless several assignments share a capability. */
  readonly binding: string;
  /** What the instance may do with it. Logging needs none: the assignment itself allows it. */
  readonly permissions: readonly Permission[];
}

export function isCapabilityKind(value: unknown): value is CapabilityKind {
  return typeof value === "string" && (CAPABILITY_KINDS as readonly string[]).includes(value);
}

export function namespaceOf(capability: CapabilityKind): CapabilityNamespace {
  return CAPABILITY_NAMESPACES[capability];
}

/** The capability a host-call namespace names, or null for a namespace wasmatrix does not know. */
export function capabilityOfNamespace(namespace: string): CapabilityKind | null {
  if (typeof namespace !== "string" || !namespace.startsWith(NAMESPACE_PREFIX)) return null;
  const kind = namespace.slice(NAMESPACE_PREFIX.length);
  return isCapabilityKind(kind) ? kind : null;
}

export function parseCapabilityKind(value: unknown): CapabilityKind {
  if (isCapabilityKind(value)) return value;
  throw invalid(
    `unknown capability '${truncate(String(value), 64)}'; the capabilities are ${CAPABILITY_KINDS.join(", ")}`,
    { capability: truncate(String(value), 64) },
  );
}

export function parseBinding(value: unknown): string {
  if (typeof value !== "string" || value.length === 0 || value.length > MAX_BINDING_LENGTH) {
    throw invalid(`a binding must be 1–${MAX_BINDING_LENGTH} characters`, {
      binding: truncate(String(value), 64),
    });
  }
  if (!BINDING_PATTERN.test(value)) {
    throw invalid(
      `binding '${value}' has characters outside [A-Za-z0-9._-] or does not start with a letter or digit`,
      { binding: value },
    );
  }
  return value;
}

export function parseProviderRef(value: unknown): ProviderId | LocalProvider {
  return value === LOCAL_PROVIDER ? LOCAL_PROVIDER : ProviderId.parse(value);
}

function checkPermissionCount(count: number): void {
  if (count > MAX_PERMISSIONS_PER_ASSIGNMENT) {
    throw invalid(`an assignment holds at most ${MAX_PERMISSIONS_PER_ASSIGNMENT} permissions; got ${count}`, {
      count,
      max: MAX_PERMISSIONS_PER_ASSIGNMENT,
    });
  }
}

function checkPermissionsFit(capability: CapabilityKind, permissions: readonly Permission[]): Permission[] {
  checkPermissionCount(permissions.length);
  const seen = new Set<string>();
  const unique: Permission[] = [];
  for (const permission of permissions) {
    const belongsTo = CAPABILITY_OF_PERMISSION[permission.kind];
    if (belongsTo !== capability) {
      throw invalid(
        capability === "logging"
          ? `the logging capability takes no permissions; '${formatPermission(permission)}' belongs to ${belongsTo}`
          : `permission '${formatPermission(permission)}' belongs to ${belongsTo}, not ${capability}`,
        { capability, permission: formatPermission(permission) },
      );
    }
    const text = formatPermission(permission);
    if (!seen.has(text)) {
      seen.add(text);
      unique.push(permission);
    }
  }
  return unique;
}

const ASSIGNMENT_FIELDS: ReadonlySet<string> = new Set(["capability", "provider", "binding", "permissions"]);

/**
 * Checks an assignment that arrives as data. `binding` defaults to "default", `provider` to
 * "local", `permissions` to none; permissions may be strings or objects and come back canonical
 * and without duplicates.
 */
export function validateAssignment(value: unknown): CapabilityAssignment {
  const record = requireObject("a capability assignment", value);
  onlyFields("a capability assignment", record, ASSIGNMENT_FIELDS);
  const capability = parseCapabilityKind(record["capability"]);
  const provider = parseProviderRef(record["provider"] ?? LOCAL_PROVIDER);
  const binding = parseBinding(record["binding"] ?? DEFAULT_BINDING);
  const rawPermissions = record["permissions"] ?? [];
  if (!Array.isArray(rawPermissions)) throw invalid("permissions must be a list", { capability });
  // Counted before parsing, so an oversized list costs nothing to refuse.
  checkPermissionCount(rawPermissions.length);
  const permissions = checkPermissionsFit(capability, rawPermissions.map(toPermission));
  return Object.freeze({ capability, provider, binding, permissions: Object.freeze(permissions) });
}

const ASSIGNMENT_SYNTAX = "<capability>[@<provider>][#<binding>][=<permission>,<permission>…]";
const HEAD = /^([^@#]*)(?:@([^#]*))?(?:#(.*))?$/;

/**
 * Reads the CLI form of an assignment:
 *
 *   <capability>[@<provider>][#<binding>][=<permission>,<permission>…]
 *
 *   keyvalue=kv:read,kv:write                      local keyvalue, binding "default"
 *   keyvalue@redis-1#cache=kv:read                 provider redis-1, binding "cache"
 *   http=http:domain:*.example.com,http:domain:example.com
 *   messaging=msg:publish:orders.*,msg:subscribe:orders.>
 *   logging                                        logging takes no permissions
 */
export function parseAssignment(spec: string): CapabilityAssignment {
  if (typeof spec !== "string" || spec.trim().length === 0) {
    throw invalid(`a capability assignment cannot be empty; write ${ASSIGNMENT_SYNTAX}`, {});
  }
  const text = spec.trim();
  const eq = text.indexOf("=");
  const head = eq < 0 ? text : text.slice(0, eq);
  const tail = eq < 0 ? null : text.slice(eq + 1);
  const match = HEAD.exec(head);
  const capabilityText = match?.[1] ?? head;
  if (!match || !isCapabilityKind(capabilityText)) {
    const hint = capabilityText.includes(":")
      ? ` (permissions follow '=', as in keyvalue=kv:read,kv:write)`
      : ` (capabilities: ${CAPABILITY_KINDS.join(", ")})`;
    throw invalid(
      `cannot read capability assignment '${truncate(text, 80)}': write ${ASSIGNMENT_SYNTAX}${hint}`,
      { spec: truncate(text, 200) },
    );
  }
  if (tail !== null && tail.trim().length === 0) {
    throw invalid(
      `capability assignment '${truncate(text, 80)}' has '=' but no permissions; list them (kv:read,kv:write) or drop the '='`,
      { spec: truncate(text, 200) },
    );
  }
  const permissionTexts = tail === null ? [] : tail.split(",");
  checkPermissionCount(permissionTexts.length);
  const permissions: Permission[] = [];
  for (const part of permissionTexts) {
    try {
      permissions.push(parsePermission(part));
    } catch (error) {
      const inner = WasmatrixError.from(error);
      throw invalid(`capability assignment '${truncate(text, 80)}': ${inner.message}`, {
        spec: truncate(text, 200),
        permission: truncate(part, 200),
      });
    }
  }
  return validateAssignment({
    capability: capabilityText,
    provider: match[2] === undefined ? LOCAL_PROVIDER : match[2],
    binding: match[3] === undefined ? DEFAULT_BINDING : match[3],
    permissions,
  });
}

/** The canonical CLI form; `parseAssignment(formatAssignment(a))` equals `a`. */
export function formatAssignment(assignment: CapabilityAssignment): string {
  const provider = assignment.provider === LOCAL_PROVIDER ? "" : `@${assignment.provider}`;
  const binding = assignment.binding === DEFAULT_BINDING ? "" : `#${assignment.binding}`;
  const permissions =
    assignment.permissions.length === 0 ? "" : `=${assignment.permissions.map(formatPermission).join(",")}`;
  return `${assignment.capability}${provider}${binding}${permissions}`;
}

/** Refuses two assignments with the same capability and binding: a host call must resolve to one. */
export function validateAssignments(values: unknown): CapabilityAssignment[] {
  if (!Array.isArray(values)) throw invalid("assignments must be a list", {});
  if (values.length > MAX_ASSIGNMENTS_PER_INSTANCE) {
    throw invalid(
      `an instance holds at most ${MAX_ASSIGNMENTS_PER_INSTANCE} assignments; got ${values.length}`,
      {
        count: values.length,
        max: MAX_ASSIGNMENTS_PER_INSTANCE,
      },
    );
  }
  const seen = new Set<string>();
  return values.map((value) => {
    const assignment = validateAssignment(value);
    const key = `${assignment.capability}#${assignment.binding}`;
    if (seen.has(key)) {
      throw invalid(
        `two assignments for ${assignment.capability} use binding '${assignment.binding}'; give one a different #binding`,
        { capability: assignment.capability, binding: assignment.binding },
      );
    }
    seen.add(key);
    return assignment;
  });
}

export function findAssignment(
  assignments: readonly CapabilityAssignment[],
  capability: CapabilityKind,
  binding: string = DEFAULT_BINDING,
): CapabilityAssignment | undefined {
  return assignments.find((a) => a.capability === capability && a.binding === binding);
}

/** The part of an assignment that says which host calls it serves; wire forms may leave binding empty. */
interface AssignmentKey {
  readonly capability: string;
  readonly binding: string;
}

function bindingOf(assignment: AssignmentKey): string {
  return assignment.binding === "" ? DEFAULT_BINDING : assignment.binding;
}

/** An instance's assignments after assigning one: it replaces the one with the same capability and binding. */
export function withAssignment<A extends AssignmentKey>(assignments: readonly A[], assignment: A): A[] {
  const binding = bindingOf(assignment);
  return [
    ...assignments.filter((a) => !(a.capability === assignment.capability && bindingOf(a) === binding)),
    assignment,
  ];
}

/**
 * An instance's assignments after revoking one binding of a capability, or every binding of it
 * when `binding` is empty or missing. Throws CAPABILITY_NOT_ASSIGNED when nothing matches, so a
 * revoke never records a fact about an assignment that was not there.
 */
export function withoutAssignment<A extends AssignmentKey>(
  assignments: readonly A[],
  revoke: { readonly instanceId: string; readonly capability: string; readonly binding?: string },
): { kept: A[]; capability: CapabilityKind } {
  const all = revoke.binding === undefined || revoke.binding === "";
  const kept = assignments.filter(
    (a) => !(a.capability === revoke.capability && (all || bindingOf(a) === revoke.binding)),
  );
  if (kept.length === assignments.length || !isCapabilityKind(revoke.capability)) {
    throw new WasmatrixError(
      ErrorCode.CAPABILITY_NOT_ASSIGNED,
      `instance '${revoke.instanceId}' has no '${truncate(String(revoke.capability), 64)}' assignment${all ? "" : ` with binding '${truncate(String(revoke.binding), 64)}'`}`,
      {
        instanceId: revoke.instanceId,
        capability: truncate(String(revoke.capability), 64),
        ...(all ? {} : { binding: truncate(String(revoke.binding), 64) }),
      },
    );
  }
  return { kept, capability: revoke.capability };
}

import { ErrorCode, WasmatrixError } from "./errors.js";

/** The tenant of every instance started without one, and of everything from before tenants. */
export const DEFAULT_TENANT = "default";

/** Tenant names: short, lower-case, safe inside a keyvalue scope, a subject token and a file name. */
const TENANT_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** The tenant a protocol field names: empty reads as DEFAULT_TENANT. Throws INVALID_REQUEST for a malformed name. */
export function tenantOf(field: string | undefined): string {
  if (field === undefined || field === "") return DEFAULT_TENANT;
  return validateTenant(field);
}

export function validateTenant(name: string): string {
  if (!TENANT_PATTERN.test(name)) {
    throw new WasmatrixError(
      ErrorCode.INVALID_REQUEST,
      `'${name.slice(0, 64)}' is not a tenant name: 1-63 of a-z, 0-9, '_' and '-', starting with a letter or digit`,
      { tenant: name.slice(0, 64) },
    );
  }
  return name;
}

/**
 * Where a tenant's keyvalue scopes live. The default tenant keeps the scopes it had before
 * tenants (`instance/…`, `binding/…`); every other tenant's begin with `tenant/<name>/`, which no
 * default scope does and no tenant name can forge (names hold no `/`). The node picks the scope,
 * never the guest: whatever key a guest builds stays inside it.
 */
export function tenantScope(tenant: string, scope: string): string {
  return tenant === DEFAULT_TENANT ? scope : `tenant/${tenant}/${scope}`;
}

/**
 * First token of every tenant's messaging subjects. Guests may not name it (`tenantSubject`
 * refuses it for every tenant), so the only way onto a subject beneath it is to be the tenant.
 */
export const TENANT_SUBJECT_ROOT = "_TENANT";

/** Whether a subject (or pattern) a guest names starts in the tenants' reserved space. */
export function isReservedSubject(subject: string): boolean {
  return subject === TENANT_SUBJECT_ROOT || subject.startsWith(`${TENANT_SUBJECT_ROOT}.`);
}

/**
 * The subject on the bus for a subject (or subscription pattern) a tenant's guest names, after
 * its permission check has passed on the guest's own subject. The default tenant keeps its
 * subjects as they were; every other tenant's sit under `_TENANT.<name>.`, which a guest can
 * never write (refused here) and no tenant name can forge (names hold no `.`). Wildcards stay
 * below the prefix: `>` of tenant `a` is `_TENANT.a.>`, which matches nothing of tenant `b`.
 */
export function tenantSubject(tenant: string, subject: string): string {
  if (isReservedSubject(subject)) {
    throw new WasmatrixError(
      ErrorCode.PERMISSION_DENIED,
      `subjects beginning '${TENANT_SUBJECT_ROOT}.' are reserved for tenants' messaging; name another subject`,
      { subject: subject.slice(0, 64) },
    );
  }
  return tenant === DEFAULT_TENANT ? subject : `${TENANT_SUBJECT_ROOT}.${validateTenant(tenant)}.${subject}`;
}

/**
 * The subject a tenant's guest is shown for a message that arrived on `busSubject`, or undefined
 * when the message is not in the tenant's space: a default-tenant pattern such as `*.b.orders`
 * or `>` also matches other tenants' subjects, and those messages must not reach it.
 */
export function subjectForGuest(tenant: string, busSubject: string): string | undefined {
  if (tenant === DEFAULT_TENANT) return isReservedSubject(busSubject) ? undefined : busSubject;
  const prefix = `${TENANT_SUBJECT_ROOT}.${tenant}.`;
  return busSubject.startsWith(prefix) && busSubject.length > prefix.length
    ? busSubject.slice(prefix.length)
    : undefined;
}

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

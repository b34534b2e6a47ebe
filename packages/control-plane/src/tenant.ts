/**
 * The tenant an instance belongs to, for the audit log. Every instance is in "default" until
 * instances carry their tenant (the tokens and tenants work of issue 15): this is the one place
 * to wire it then.
 */
export function tenantOf(_instanceId: string): string {
  return "default";
}

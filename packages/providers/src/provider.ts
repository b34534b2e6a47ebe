import type { CapabilityKind, Permission, PermissionRequest } from "@wasmatrix/core";

/** One capability call that has passed the router's assignment and permission checks. */
export interface ProviderCall {
  instanceId: string;
  binding: string;
  operation: string;
  payload: Uint8Array;
  /**
   * Isolation scope chosen by the router from the assignment: stateful providers keep each
   * scope's data apart, so instances without a shared assignment never see each other's data.
   */
  scope: string;
  /**
   * The calling instance's tenant (@default DEFAULT_TENANT). Messaging puts a tenant's subjects
   * under its own prefix (core's `tenantSubject`) after the permission check on the guest's.
   */
  tenant?: string;
  /** Milliseconds the guest's deadline leaves for this call. */
  remainingMs: number;
  /** The assignment's grants, for a provider that is another process and checks them again. */
  permissions?: readonly Permission[];
}

/**
 * A capability provider. The router asks `required` what a call needs before `handle` runs, so
 * the provider never sees a call its caller was not allowed to make.
 */
export interface CapabilityProvider {
  readonly capability: CapabilityKind;
  /** The permission a call needs; throws INVALID_REQUEST for unknown operations or bad payloads. */
  required(operation: string, payload: Uint8Array): PermissionRequest;
  handle(call: ProviderCall): Promise<Uint8Array>;
  close?(): Promise<void>;
}

import { type CapabilityKind, ErrorCode, type PermissionRequest, WasmatrixError } from "@wasmatrix/core";
import { httpRequired } from "./http.js";
import { keyvalueRequired } from "./keyvalue.js";
import { messagingRequired } from "./messaging.js";

/**
 * The permission a capability call needs, known without the provider: a node checks calls it
 * routes to a provider process before they leave, and the provider checks them again.
 */
export function requiredPermission(
  capability: CapabilityKind,
  operation: string,
  payload: Uint8Array,
): PermissionRequest {
  switch (capability) {
    case "keyvalue":
      return keyvalueRequired(operation);
    case "http":
      return httpRequired(operation, payload);
    case "messaging":
      return messagingRequired(operation, payload);
    case "logging":
    case "filesystem":
      throw new WasmatrixError(
        ErrorCode.INVALID_REQUEST,
        `${capability} is served inside the node, never by a provider`,
      );
  }
}

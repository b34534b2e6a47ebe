import type { Caller, CertificateIdentity, Role } from "./caller.js";
import { ErrorCode, WasmatrixError } from "./errors.js";

/**
 * The one authorization decision of the API: every RPC of every service (keyed by its gRPC
 * path) with the roles whose tokens may call it, how tenants bound it, and which certificate
 * identities may call it. Servers consult `authorizeCall` before any handler runs; a test builds
 * the list of RPCs from the generated service definitions, so an RPC without a rule fails it.
 */

/** A daemon's certificate kind that may call an RPC without a token (`client` certificates never do: people use tokens). */
export type DaemonIdentityKind = Exclude<CertificateIdentity["kind"], "client">;

/**
 * How an RPC relates to tenants:
 * - `tenant`: acts on instances; a tenant token is confined to its tenant's instances.
 * - `shared`: reads cluster-wide data that names no tenant's instance (nodes, providers, version).
 * - `cluster`: changes or reads the cluster itself (nodes, providers, tokens): tenant tokens are refused.
 */
export type Tenancy = "tenant" | "shared" | "cluster";

export interface ApiRule {
  /** Roles whose tokens may call it; empty when only certificate identities may. */
  readonly roles: readonly Role[];
  readonly tenancy: Tenancy;
  /**
   * Certificate identities that may call it without a token. Which id an identity may act as
   * (a node only as itself) is decided by the TLS layer on top of this.
   */
  readonly identities: readonly DaemonIdentityKind[];
}

const ALL_ROLES: readonly Role[] = ["admin", "deployer", "reader"];
const DEPLOYERS: readonly Role[] = ["admin", "deployer"];
const ADMIN: readonly Role[] = ["admin"];

const CP = "/wasmatrix.v1.ControlPlane/";
const NA = "/wasmatrix.v1.NodeAgent/";
const PV = "/wasmatrix.v1.CapabilityProvider/";

const rule = (
  roles: readonly Role[],
  tenancy: Tenancy,
  identities: readonly DaemonIdentityKind[] = [],
): ApiRule => Object.freeze({ roles, tenancy, identities });

/** Node agents serve the control plane only (and an admin token, for debugging a node by hand). */
const FROM_CONTROL_PLANE = rule(ADMIN, "cluster", ["control-plane"]);

export const API_RULES: Readonly<Record<string, ApiRule>> = Object.freeze({
  [`${CP}StartInstance`]: rule(DEPLOYERS, "tenant"),
  [`${CP}StopInstance`]: rule(DEPLOYERS, "tenant"),
  [`${CP}QueryInstance`]: rule(ALL_ROLES, "tenant"),
  [`${CP}ListInstances`]: rule(ALL_ROLES, "tenant"),
  [`${CP}Invoke`]: rule(DEPLOYERS, "tenant"),
  [`${CP}AssignCapability`]: rule(DEPLOYERS, "tenant"),
  [`${CP}RevokeCapability`]: rule(DEPLOYERS, "tenant"),
  [`${CP}ListNodes`]: rule(ALL_ROLES, "shared"),
  [`${CP}WatchEvents`]: rule(ALL_ROLES, "tenant"),
  [`${CP}StreamLogs`]: rule(ALL_ROLES, "tenant"),
  [`${CP}RegisterNode`]: rule(ADMIN, "cluster", ["node"]),
  [`${CP}ReportStatus`]: rule(ADMIN, "cluster", ["node"]),
  [`${CP}DeregisterNode`]: rule(ADMIN, "cluster", ["node"]),
  [`${CP}RegisterProvider`]: rule(ADMIN, "cluster", ["provider"]),
  [`${CP}ListProviders`]: rule(ALL_ROLES, "shared", ["node"]),
  [`${CP}ServerInfo`]: rule(ALL_ROLES, "shared", ["node", "provider", "control-plane"]),
  [`${CP}CreateToken`]: rule(ADMIN, "cluster"),
  [`${CP}ListTokens`]: rule(ADMIN, "cluster"),
  [`${CP}RevokeToken`]: rule(ADMIN, "cluster"),
  // Deployments and triggers name apps and instances of any tenant (a trigger's labels select
  // across tenants), and their handlers do not confine them yet: tenant tokens are refused.
  [`${CP}RecordDeployment`]: rule(DEPLOYERS, "cluster"),
  [`${CP}AddTrigger`]: rule(DEPLOYERS, "cluster"),
  [`${CP}RemoveTrigger`]: rule(DEPLOYERS, "cluster"),
  [`${CP}ListTriggers`]: rule(ALL_ROLES, "cluster"),
  // Routes select instances of any tenant by label, so tenant tokens are refused, as for triggers.
  [`${CP}AddRoute`]: rule(DEPLOYERS, "cluster"),
  [`${CP}RemoveRoute`]: rule(DEPLOYERS, "cluster"),
  [`${CP}ListRoutes`]: rule(ALL_ROLES, "cluster"),
  // The audit log names every tenant's actions and callers.
  [`${CP}ReadAudit`]: rule(ADMIN, "cluster"),
  [`${NA}StartInstance`]: FROM_CONTROL_PLANE,
  [`${NA}StopInstance`]: FROM_CONTROL_PLANE,
  [`${NA}QueryStatus`]: FROM_CONTROL_PLANE,
  [`${NA}Invoke`]: FROM_CONTROL_PLANE,
  [`${NA}ListInstances`]: FROM_CONTROL_PLANE,
  [`${NA}SetAssignments`]: FROM_CONTROL_PLANE,
  [`${NA}StreamLogs`]: FROM_CONTROL_PLANE,
  [`${NA}NodeInfo`]: FROM_CONTROL_PLANE,
  [`${NA}ListFacts`]: FROM_CONTROL_PLANE,
  // A provider serves nodes only: no token, not even an admin's, stands in for a node.
  [`${PV}Call`]: rule([], "cluster", ["node"]),
  [`${PV}ProviderInfo`]: rule([], "cluster", ["node", "control-plane"]),
});

/** What a permitted call may touch: `tenant` set confines it to that tenant's instances. */
export interface CallScope {
  readonly tenant?: string;
}

export interface AccessPolicy {
  /**
   * True when the server runs with --auth: a caller with neither a token nor an allowed
   * certificate identity is refused. False keeps today's open loopback server.
   */
  readonly requireCredentials: boolean;
}

/**
 * May `caller` call the RPC at `path`? Returns the scope the call runs in, or throws
 * UNAUTHENTICATED (no credentials where they are required) or PERMISSION_DENIED (the wrong role,
 * a tenant token on a cluster RPC, an RPC with no rule).
 */
export function authorizeCall(path: string, caller: Caller, policy: AccessPolicy): CallScope {
  const apiRule = API_RULES[path];
  if (apiRule === undefined) {
    throw new WasmatrixError(ErrorCode.PERMISSION_DENIED, `no authorization rule for ${path}; refused`, {
      rpc: path,
    });
  }
  const certificate = caller.certificate;
  if (
    certificate !== undefined &&
    certificate.kind !== "client" &&
    apiRule.identities.includes(certificate.kind)
  ) {
    return {};
  }
  const token = caller.token;
  if (token === undefined) {
    if (!policy.requireCredentials) return {};
    throw new WasmatrixError(
      ErrorCode.UNAUTHENTICATED,
      `${rpcName(path)} needs an API token: pass --token (or set WASMATRIX_TOKEN); an admin creates one with \`wasmatrix token create\``,
      { rpc: path },
    );
  }
  if (!apiRule.roles.includes(token.role)) {
    throw new WasmatrixError(
      ErrorCode.PERMISSION_DENIED,
      `a ${token.role} token may not call ${rpcName(path)}; it needs ${describeRoles(apiRule)}`,
      { rpc: path, role: token.role, tokenId: token.tokenId },
    );
  }
  if (token.tenant === undefined) return {};
  if (apiRule.tenancy === "cluster") {
    throw new WasmatrixError(
      ErrorCode.PERMISSION_DENIED,
      `${rpcName(path)} acts on the whole cluster; a token of tenant '${token.tenant}' may not call it`,
      { rpc: path, role: token.role, tenant: token.tenant, tokenId: token.tokenId },
    );
  }
  return apiRule.tenancy === "tenant" ? { tenant: token.tenant } : {};
}

/** `ControlPlane.StartInstance` from `/wasmatrix.v1.ControlPlane/StartInstance`. */
export function rpcName(path: string): string {
  const match = /^\/(?:[\w]+\.)*([\w]+)\/([\w]+)$/.exec(path);
  return match === null ? path : `${match[1]}.${match[2]}`;
}

function describeRoles(apiRule: ApiRule): string {
  const roles = apiRule.roles.length === 0 ? "" : `a token of role ${apiRule.roles.join(" or ")}`;
  const identities =
    apiRule.identities.length === 0 ? "" : `a ${apiRule.identities.join(" or ")} certificate`;
  return [roles, identities].filter((s) => s !== "").join(", or ") || "nothing any caller holds";
}

/**
 * Which certificate identities may call which RPC over mTLS, and which request field must name
 * the caller itself: a node registers, reports and leaves only as its own id, a provider
 * registers only as itself, a node agent takes control calls only from a control plane, and a
 * provider serves only nodes. One table, so that token roles (keyed by the same RPC names) can
 * sit beside it; a server without TLS checks nothing here.
 */
import type { CertificateIdentity } from "./caller.js";
import { formatCertificateIdentity } from "./caller.js";
import { ErrorCode, WasmatrixError } from "./errors.js";

export type IdentityKind = CertificateIdentity["kind"];

export interface IdentityRule {
  /** The certificate kinds that may call it. */
  kinds: readonly IdentityKind[];
  /**
   * A dotted path into the request whose value must equal the certificate's id (`node:<id>`,
   * `provider:<id>`): what stops a node from speaking for another.
   */
  sameId?: string;
}

const USER: IdentityRule = { kinds: ["client"] };
const CONTROL: IdentityRule = { kinds: ["control-plane"] };

/** Keyed by "Service.Rpc", the names in proto/wasmatrix/v1. */
export const IDENTITY_RULES: Readonly<Record<string, IdentityRule>> = {
  "ControlPlane.StartInstance": USER,
  "ControlPlane.StopInstance": USER,
  "ControlPlane.QueryInstance": USER,
  "ControlPlane.ListInstances": USER,
  "ControlPlane.Invoke": USER,
  "ControlPlane.AssignCapability": USER,
  "ControlPlane.RevokeCapability": USER,
  // Providers serve only the nodes listed alive here.
  "ControlPlane.ListNodes": { kinds: ["client", "provider"] },
  "ControlPlane.WatchEvents": USER,
  "ControlPlane.StreamLogs": USER,
  "ControlPlane.RegisterNode": { kinds: ["node"], sameId: "node.nodeId" },
  "ControlPlane.ReportStatus": { kinds: ["node"], sameId: "nodeId" },
  "ControlPlane.DeregisterNode": { kinds: ["node"], sameId: "nodeId" },
  "ControlPlane.RegisterProvider": { kinds: ["provider"], sameId: "provider.providerId" },
  "ControlPlane.ListProviders": { kinds: ["client", "node"] },
  // The version handshake: whoever holds a certificate of this cluster may ask.
  "ControlPlane.ServerInfo": { kinds: ["client", "node", "provider", "control-plane"] },
  "ControlPlane.RecordDeployment": USER,
  "ControlPlane.AddTrigger": USER,
  "ControlPlane.RemoveTrigger": USER,
  "ControlPlane.ListTriggers": USER,
  "ControlPlane.AddRoute": USER,
  "ControlPlane.RemoveRoute": USER,
  "ControlPlane.ListRoutes": USER,
  "ControlPlane.ReadAudit": USER,
  // Tokens are managed by people (an admin token, api-access.ts), never by a daemon.
  "ControlPlane.CreateToken": USER,
  "ControlPlane.ListTokens": USER,
  "ControlPlane.RevokeToken": USER,
  "NodeAgent.StartInstance": CONTROL,
  "NodeAgent.StopInstance": CONTROL,
  "NodeAgent.QueryStatus": CONTROL,
  "NodeAgent.Invoke": CONTROL,
  "NodeAgent.ListInstances": CONTROL,
  "NodeAgent.SetAssignments": CONTROL,
  "NodeAgent.StreamLogs": CONTROL,
  "NodeAgent.NodeInfo": CONTROL,
  "NodeAgent.ListFacts": CONTROL,
  // The node a call is made for is the certificate's, never a field of the request.
  "CapabilityProvider.Call": { kinds: ["node"] },
  "CapabilityProvider.ProviderInfo": { kinds: ["node", "control-plane", "client"] },
};

function idOf(identity: CertificateIdentity): string | undefined {
  return identity.kind === "node" || identity.kind === "provider" ? identity.id : undefined;
}

function fieldAt(request: unknown, path: string): unknown {
  let value: unknown = request;
  for (const part of path.split(".")) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

export type IdentityDecision =
  | { allowed: true }
  | {
      allowed: false;
      code: typeof ErrorCode.UNAUTHENTICATED | typeof ErrorCode.PERMISSION_DENIED;
      reason: string;
    };

/**
 * Whether `certificate` may make `rpc` ("Service.Rpc") with `request`. No certificate (or one
 * naming no wasmatrix identity) is UNAUTHENTICATED; the wrong kind, the wrong id, or an RPC
 * without a rule is PERMISSION_DENIED.
 */
export function decideIdentity(
  rpc: string,
  certificate: CertificateIdentity | undefined,
  request: unknown,
): IdentityDecision {
  if (certificate === undefined) {
    return {
      allowed: false,
      code: ErrorCode.UNAUTHENTICATED,
      reason: `${rpc} needs a client certificate of this cluster naming its holder (node:, provider:, control-plane:, client:)`,
    };
  }
  const rule = IDENTITY_RULES[rpc];
  const who = formatCertificateIdentity(certificate).replace(/:$/, "");
  if (rule === undefined) {
    return { allowed: false, code: ErrorCode.PERMISSION_DENIED, reason: `${rpc} has no identity rule` };
  }
  if (!rule.kinds.includes(certificate.kind)) {
    return {
      allowed: false,
      code: ErrorCode.PERMISSION_DENIED,
      reason: `${rpc} is for ${rule.kinds.join(" or ")} certificates; ${who} may not call it`,
    };
  }
  if (rule.sameId !== undefined) {
    const claimed = fieldAt(request, rule.sameId);
    if (claimed !== idOf(certificate)) {
      return {
        allowed: false,
        code: ErrorCode.PERMISSION_DENIED,
        reason: `${who} may act only as itself, not as '${String(claimed)}'`,
      };
    }
  }
  return { allowed: true };
}

/** `decideIdentity`, throwing its refusal as a WasmatrixError. */
export function assertIdentity(
  rpc: string,
  certificate: CertificateIdentity | undefined,
  request: unknown,
): void {
  const decision = decideIdentity(rpc, certificate, request);
  if (!decision.allowed) {
    throw new WasmatrixError(decision.code, decision.reason, {
      rpc,
      ...(certificate === undefined ? {} : { caller: formatCertificateIdentity(certificate) }),
    });
  }
}

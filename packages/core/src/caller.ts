/**
 * Who is calling: the identity a verified client certificate names, and the claims of a verified
 * API token. Servers build one per call; authorization and the audit log read it. An empty caller
 * (no certificate, no token) is someone on a plain loopback connection of a server without --auth.
 */

export const ROLES = ["admin", "deployer", "reader"] as const;
export type Role = (typeof ROLES)[number];

/** What a certificate's subject alternative name (a URI) says its holder is. */
export type CertificateIdentity =
  | { kind: "node"; id: string }
  | { kind: "provider"; id: string }
  | { kind: "control-plane" }
  | { kind: "client"; name: string };

/** The verified claims of an API token. */
export interface TokenClaims {
  tokenId: string;
  role: Role;
  /** Absent for an admin token that spans tenants. */
  tenant?: string;
  /** Milliseconds since the epoch; absent when the token never expires. */
  expiresAt?: number;
}

export interface Caller {
  certificate?: CertificateIdentity;
  token?: TokenClaims;
}

export const ANONYMOUS: Caller = Object.freeze({});

/** The SAN URI a certificate carries for an identity: `node:<id>`, `provider:<id>`, `control-plane:`, `client:<name>`. */
export function formatCertificateIdentity(identity: CertificateIdentity): string {
  switch (identity.kind) {
    case "node":
      return `node:${identity.id}`;
    case "provider":
      return `provider:${identity.id}`;
    case "control-plane":
      return "control-plane:";
    case "client":
      return `client:${identity.name}`;
  }
}

/** Reads a SAN URI written by `formatCertificateIdentity`; anything else is not a wasmatrix identity. */
export function parseCertificateIdentity(uri: string): CertificateIdentity | undefined {
  const colon = uri.indexOf(":");
  if (colon <= 0) return undefined;
  const scheme = uri.slice(0, colon);
  const rest = uri.slice(colon + 1);
  if (scheme === "control-plane") return rest === "" ? { kind: "control-plane" } : undefined;
  if (rest === "" || /[\s/]/.test(rest)) return undefined;
  if (scheme === "node") return { kind: "node", id: rest };
  if (scheme === "provider") return { kind: "provider", id: rest };
  if (scheme === "client") return { kind: "client", name: rest };
  return undefined;
}

/** How the audit log and error details name a caller: `token:<id>`, `node:<id>`, …, or `anonymous`. */
export function describeCaller(caller: Caller): string {
  if (caller.token) return `token:${caller.token.tokenId}`;
  if (caller.certificate) return formatCertificateIdentity(caller.certificate).replace(/:$/, "");
  return "anonymous";
}

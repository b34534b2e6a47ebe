import { bearerToken, type ServerAccess } from "@wasmatrix/proto";
import type { Audit } from "../audit-log.js";
import type { TokenAuthority } from "./token-authority.js";

/**
 * A server's access with API tokens: with an authority (--auth) every call needs a valid bearer
 * token (or, over TLS, an allowed certificate identity); without one, calls are let
 * through as before and tokens are not read.
 */
export function tokenAccess(authority: TokenAuthority | undefined, audit?: Audit): ServerAccess {
  return {
    policy: { requireCredentials: authority !== undefined },
    // Refused calls go to the audit log with who was refused and why; the refusal does not wait.
    refused(path, caller, error) {
      void audit
        ?.append({
          caller,
          action: "call.refused",
          target: path,
          outcome: "refused",
          details: { code: error.code, message: error.message },
        })
        .catch(() => undefined);
    },
    async identify({ metadata }) {
      if (authority === undefined) return {};
      const token = bearerToken(metadata);
      return token === undefined ? {} : { token: await authority.verify(token) };
    },
  };
}

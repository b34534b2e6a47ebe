import { bearerToken, type ServerAccess } from "@wasmatrix/proto";
import type { TokenAuthority } from "./token-authority.js";

/**
 * A server's access with API tokens: with an authority (--auth) every call needs a valid bearer
 * token (or, once TLS lands, an allowed certificate identity); without one, calls are let
 * through as before and tokens are not read.
 */
export function tokenAccess(authority: TokenAuthority | undefined): ServerAccess {
  return {
    policy: { requireCredentials: authority !== undefined },
    async identify({ metadata }) {
      if (authority === undefined) return {};
      const token = bearerToken(metadata);
      return token === undefined ? {} : { token: await authority.verify(token) };
    },
  };
}

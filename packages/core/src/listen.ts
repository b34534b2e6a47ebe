/**
 * The one rule every wasmatrix listener obeys (gRPC servers, the HTTP gateway, the metrics and
 * dashboard listener): loopback is always allowed; any other address needs TLS, or the
 * operator's explicit `--insecure`, because nothing else stops a stranger on the network.
 */
import { ErrorCode, WasmatrixError } from "./errors.js";

/** Splits "host:port" (and "[v6]:port"); a bare host has no port. */
export function splitHostPort(address: string): { host: string; port: string | undefined } {
  const bracketed = /^\[([^\]]*)\](?::(\d*))?$/.exec(address);
  if (bracketed) return { host: bracketed[1]!, port: bracketed[2] };
  const colon = address.lastIndexOf(":");
  // More than one colon without brackets is a bare IPv6 address.
  if (colon === -1 || address.indexOf(":") !== colon) return { host: address, port: undefined };
  return { host: address.slice(0, colon), port: address.slice(colon + 1) };
}

/** True for names and addresses that never leave this machine. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  if (h === "localhost" || h === "::1" || h === "0:0:0:0:0:0:0:1") return true;
  if (h.startsWith("::ffff:")) return isLoopbackHost(h.slice("::ffff:".length));
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

export interface ListenSecurity {
  /** The listener will require TLS. */
  tls: boolean;
  /** The operator accepted a plain-text listener beyond loopback. */
  insecure: boolean;
}

/**
 * Throws INSECURE_LISTEN, naming the flags that fix it, when `address` reaches beyond loopback
 * without TLS and without `--insecure`. `what` names the listener in the message ("the API").
 */
export function assertListenAllowed(what: string, address: string, security: ListenSecurity): void {
  const { host } = splitHostPort(address);
  if (security.tls || security.insecure || isLoopbackHost(host)) return;
  throw new WasmatrixError(
    ErrorCode.INSECURE_LISTEN,
    `refusing to serve ${what} on ${address} without TLS: anyone who can reach it could use it. ` +
      "Give --tls-ca, --tls-cert and --tls-key, listen on 127.0.0.1, or pass --insecure to accept the risk",
    { address, listener: what },
  );
}

import { ErrorCode, WasmatrixError } from "@wasmatrix/core";
import { MIN_LEASE_TTL_SECONDS } from "./leased-record.js";

/** How many heartbeat intervals of silence make a node lost; a node's lease lasts as long. */
const LOSS_AFTER_INTERVALS = 3;
/**
 * A single etcd member with the default 1 s election timeout grants no lease shorter than about
 * 1.5 s (it rounds up); asking for 2 s keeps what we ask for and what we get the same.
 */
const MIN_USEFUL_TTL_SECONDS = 2;

/**
 * `--etcd-endpoints a,b`: `host:port` or `http(s)://host:port`, comma separated; bare addresses
 * get `http://`. INVALID_REQUEST for an empty list or an entry that is not host:port.
 */
export function parseEndpoints(text: string | readonly string[]): string[] {
  const entries = (typeof text === "string" ? text.split(",") : [...text])
    .map((s) => s.trim())
    .filter(Boolean);
  if (entries.length === 0) {
    throw new WasmatrixError(ErrorCode.INVALID_REQUEST, "--etcd-endpoints needs at least one host:port", {});
  }
  return entries.map((entry) => {
    const url = /^https?:\/\//.test(entry) ? entry : `http://${entry}`;
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      parsed = new URL("http://invalid");
    }
    if (parsed.hostname === "invalid" || parsed.port === "" || parsed.pathname !== "/") {
      throw new WasmatrixError(
        ErrorCode.INVALID_REQUEST,
        `etcd endpoint '${entry.slice(0, 100)}' is not host:port (e.g. 127.0.0.1:2379 or http://10.0.0.1:2379)`,
        { endpoint: entry.slice(0, 100) },
      );
    }
    return `${parsed.protocol}//${parsed.host}`;
  });
}

/**
 * A node's lease TTL from its heartbeat interval: the same 3 intervals after which a silent node
 * is lost without etcd, in whole seconds, at least 2. The 1 s default heartbeat gives 3 s.
 */
export function leaseTtlSeconds(heartbeatIntervalMs: number): number {
  return Math.max(
    MIN_USEFUL_TTL_SECONDS,
    MIN_LEASE_TTL_SECONDS,
    Math.ceil((heartbeatIntervalMs * LOSS_AFTER_INTERVALS) / 1000),
  );
}

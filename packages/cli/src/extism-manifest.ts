import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { type CapabilityAssignment, ErrorCode, parseAssignment, WasmatrixError } from "@wasmatrix/core";
import { unreadable } from "./files.js";

/**
 * An Extism manifest (https://extism.org/docs/concepts/manifest) read into what wasmatrix runs:
 * one module from a local path, its config, the hosts `http_request` may reach (as an http
 * assignment), and its memory and time limits.
 */
export interface ExtismManifest {
  /** The module's path, resolved against the manifest's directory. */
  modulePath: string;
  module: Uint8Array;
  config: Record<string, string>;
  /** The http assignment `allowed_hosts` maps to; null when the plugin may reach no host. */
  http: CapabilityAssignment | null;
  maxMemoryBytes?: number;
  maxVarBytes?: number;
  timeoutMs?: number;
}

const WASM_PAGE = 65_536;

function invalid(message: string, details: Record<string, unknown> = {}): WasmatrixError {
  return new WasmatrixError(ErrorCode.INVALID_REQUEST, `extism manifest: ${message}`, details);
}

/**
 * `allowed_hosts` in wasmatrix's terms: `*` is any host (`http:request`), `*.example.com` any
 * subdomain, anything else that host exactly. Extism's other globs have no equivalent here.
 */
export function allowedHostsAssignment(hosts: readonly string[]): CapabilityAssignment | null {
  if (hosts.length === 0) return null;
  const permissions = hosts.includes("*") ? ["http:request"] : hosts.map((host) => `http:domain:${host}`);
  return parseAssignment(`http=${permissions.join(",")}`);
}

function positiveInteger(value: unknown, field: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value <= 0) {
    throw invalid(`'${field}' must be a positive integer`, { field });
  }
  return value;
}

/** Parses a manifest's JSON text; `baseDir` is where relative wasm paths start. */
export async function parseExtismManifest(text: string, baseDir: string): Promise<ExtismManifest> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw invalid(`not JSON (${(error as Error).message})`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw invalid("must be a JSON object");
  const m = raw as Record<string, unknown>;
  const wasm = m["wasm"];
  if (!Array.isArray(wasm) || wasm.length !== 1) {
    throw invalid(
      "'wasm' must list exactly one module; wasmatrix runs one module per instance (Extism's linked modules are not supported)",
    );
  }
  const source = wasm[0] as Record<string, unknown>;
  if (typeof source !== "object" || source === null) throw invalid("'wasm[0]' must be an object");
  if (typeof source["path"] !== "string") {
    throw invalid(
      "'wasm[0]' must name a local file with 'path'; fetch a 'url' or 'data' module yourself and name its path",
      { keys: Object.keys(source) },
    );
  }
  const modulePath = resolve(baseDir, source["path"]);
  let module: Uint8Array;
  try {
    module = new Uint8Array(await readFile(modulePath));
  } catch (error) {
    throw invalid(unreadable(modulePath, error).message, { path: modulePath });
  }
  if (typeof source["hash"] === "string") {
    const actual = createHash("sha256").update(module).digest("hex");
    if (actual !== source["hash"].toLowerCase()) {
      throw invalid(
        `hash mismatch for ${modulePath}: the manifest says ${source["hash"]}, the file is ${actual}`,
      );
    }
  }
  const config: Record<string, string> = {};
  const rawConfig = m["config"] ?? {};
  if (typeof rawConfig !== "object" || rawConfig === null || Array.isArray(rawConfig)) {
    throw invalid("'config' must be an object of strings");
  }
  for (const [key, value] of Object.entries(rawConfig)) {
    if (typeof value !== "string") throw invalid(`config '${key}' must be a string`, { key });
    config[key] = value;
  }
  const hosts = m["allowed_hosts"] ?? [];
  if (!Array.isArray(hosts) || hosts.some((h) => typeof h !== "string")) {
    throw invalid("'allowed_hosts' must be a list of host names");
  }
  if (m["allowed_paths"] !== undefined && Object.keys(m["allowed_paths"] as object).length > 0) {
    throw invalid("'allowed_paths' is not supported for Extism plugins here; remove it");
  }
  const memory = (m["memory"] ?? {}) as Record<string, unknown>;
  const maxPages = positiveInteger(memory["max_pages"], "memory.max_pages");
  const maxVarBytes = positiveInteger(memory["max_var_bytes"], "memory.max_var_bytes");
  const timeoutMs = positiveInteger(m["timeout_ms"], "timeout_ms");
  return {
    modulePath,
    module,
    config,
    http: allowedHostsAssignment(hosts as string[]),
    ...(maxPages === undefined ? {} : { maxMemoryBytes: maxPages * WASM_PAGE }),
    ...(maxVarBytes === undefined ? {} : { maxVarBytes }),
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
  };
}

export async function readExtismManifest(path: string): Promise<ExtismManifest> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw invalid(unreadable(path, error).message, { path });
  }
  return parseExtismManifest(text, dirname(resolve(path)));
}

import type { CapabilityKind } from "./capability-kinds.js";
import { ErrorCode, type ErrorDetails, WasmatrixError } from "./errors.js";
import { invalid, isPlainObject, truncate } from "./validation.js";

/**
 * Permissions granted to an instance with a capability assignment, and the deny-by-default
 * matcher the node agent consults before a host call reaches a provider. Grammar and examples in
 * docs/core.md.
 *
 *   kv:read | kv:write | kv:delete | kv:list
 *   http:request                      any host
 *   http:domain:<host>                exactly that host (case-insensitive)
 *   http:domain:*.<host>              any subdomain of <host>, at any depth, but not <host> itself
 *   msg:publish:<subject>             NATS subject, `*` = one token, `>` = one or more (last only)
 *   msg:subscribe:<subject>
 *   fs:read:<guest path>              a directory the guest sees at that absolute path, read-only
 *   fs:write:<guest path>             the same, writable (filesystem:read:… and filesystem:write:… too)
 */

export const KV_ACTIONS = ["read", "write", "delete", "list"] as const;
export type KvAction = (typeof KV_ACTIONS)[number];

export const MSG_ACTIONS = ["publish", "subscribe"] as const;
export type MsgAction = (typeof MSG_ACTIONS)[number];

export const FS_ACTIONS = ["read", "write"] as const;
export type FsAction = (typeof FS_ACTIONS)[number];
export const MAX_GUEST_PATH_LENGTH = 256;

export type Permission =
  | { readonly kind: "kv"; readonly action: KvAction }
  /** `http:request`: any host. */
  | { readonly kind: "http"; readonly scope: "any" }
  /** `http:domain:<pattern>`: `pattern` is a lowercase host or `*.` + lowercase host. */
  | { readonly kind: "http"; readonly scope: "domain"; readonly pattern: string }
  | { readonly kind: "msg"; readonly action: MsgAction; readonly subject: string }
  /** A preopened directory at `path` (absolute, normalized) in the guest; `write` includes read. */
  | { readonly kind: "fs"; readonly action: FsAction; readonly path: string };

export type PermissionKind = Permission["kind"];

/** What a host call wants to do, as the node agent describes it to the matcher. */
export type PermissionRequest =
  | { readonly kind: "kv"; readonly action: KvAction }
  /** `host` without port or scheme; a trailing dot is ignored, case is ignored. */
  | { readonly kind: "http"; readonly host: string }
  /**
   * A publish names one concrete subject. A subscribe may name a pattern; it is allowed only when
   * one grant covers every subject the pattern can match.
   */
  | { readonly kind: "msg"; readonly action: MsgAction; readonly subject: string };

/** Which capability a permission (or request) belongs to. */
export const CAPABILITY_OF_PERMISSION: Readonly<Record<PermissionKind, CapabilityKind>> = {
  kv: "keyvalue",
  http: "http",
  msg: "messaging",
  fs: "filesystem",
};

export const MAX_PERMISSION_LENGTH = 512;
// RFC 1035 limits: 253 characters for a name, 63 for a label.
export const MAX_HOST_LENGTH = 253;
export const MAX_SUBJECT_LENGTH = 256;
export const MAX_SUBJECT_TOKENS = 32;

const HOST_LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;
const IPV6_LITERAL = /^\[[0-9a-f:.]+\]$/;
// `,` is excluded so that a permission list can be written comma-separated (docs/core.md);
// whitespace and control characters because NATS refuses them in subjects.
const SUBJECT_TOKEN = /^[^\s\p{Cc}.,*>]+$/u;

// ---------------------------------------------------------------------------------------------
// hosts

function isHostName(host: string): boolean {
  if (host.length === 0 || host.length > MAX_HOST_LENGTH) return false;
  return host.split(".").every((label) => HOST_LABEL.test(label));
}

/**
 * The canonical form of a requested host (lowercase, one trailing dot dropped), or null when it
 * is not a host name, IPv4 address or bracketed IPv6 address. A null host is denied everywhere.
 */
export function normalizeHost(host: string): string | null {
  if (typeof host !== "string") return null;
  let h = host.toLowerCase();
  if (h.endsWith(".")) h = h.slice(0, -1);
  if (IPV6_LITERAL.test(h) && h.length <= 64) return h;
  return isHostName(h) ? h : null;
}

function parseDomainPattern(text: string, original: string): string {
  const pattern = text.toLowerCase();
  if (pattern === "*") {
    throw invalid(`permission '${original}': write http:request to allow any host`, { permission: original });
  }
  const wildcard = pattern.startsWith("*.");
  const host = wildcard ? pattern.slice(2) : pattern;
  if (host.includes("*")) {
    throw invalid(
      `permission '${original}': only a leading '*.' wildcard is allowed in a domain (as in *.example.com)`,
      { permission: original },
    );
  }
  if (!isHostName(host)) {
    throw invalid(
      `permission '${original}': '${truncate(host, 64)}' is not a host name (letters, digits, '-', '_' in dot-separated labels of 1–63 characters)`,
      { permission: original },
    );
  }
  if (wildcard && /^[0-9]+$/.test(host.slice(host.lastIndexOf(".") + 1))) {
    // `*.0.0.1` would quietly grant 127.0.0.1: wildcards are for DNS names only.
    throw invalid(`permission '${original}': a wildcard cannot cover an IP address`, {
      permission: original,
    });
  }
  return pattern;
}

/** Whether `host` (already normalized) matches a domain pattern from a grant. */
export function hostMatches(pattern: string, host: string): boolean {
  if (pattern.startsWith("*.")) {
    const suffix = pattern.slice(1); // ".example.com"
    return host.length > suffix.length && host.endsWith(suffix);
  }
  return host === pattern;
}

// ---------------------------------------------------------------------------------------------
// subjects

/**
 * Splits and checks a NATS subject. With `wildcards`, `*` may stand for a whole token and `>`
 * for the last one; without, both are refused. Returns the reason it is invalid, or the tokens.
 */
function subjectTokens(subject: string, wildcards: boolean): string[] | string {
  if (typeof subject !== "string" || subject.length === 0) return "the subject is empty";
  if (subject.length > MAX_SUBJECT_LENGTH) {
    return `the subject is ${subject.length} characters long; the maximum is ${MAX_SUBJECT_LENGTH}`;
  }
  const tokens = subject.split(".");
  if (tokens.length > MAX_SUBJECT_TOKENS) {
    return `the subject has ${tokens.length} tokens; the maximum is ${MAX_SUBJECT_TOKENS}`;
  }
  for (const [i, token] of tokens.entries()) {
    if (token.length === 0) return "subject tokens must not be empty (no leading, trailing or double '.')";
    if (token === "*" || token === ">") {
      if (!wildcards) return `a concrete subject cannot contain the wildcard '${token}'`;
      if (token === ">" && i !== tokens.length - 1) return "'>' may only be the last token";
      continue;
    }
    if (!SUBJECT_TOKEN.test(token)) {
      return `subject token '${truncate(token, 32)}' may not contain whitespace, ',', or '*'/'>' inside a token`;
    }
  }
  return tokens;
}

/** Whether `subject` is a valid subject (a pattern when `wildcards` is true). */
export function isValidSubject(subject: string, wildcards = false): boolean {
  return typeof subjectTokens(subject, wildcards) !== "string";
}

/** Whether the concrete `subject` is one of those the `pattern` matches. Invalid input → false. */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = subjectTokens(pattern, true);
  const s = subjectTokens(subject, false);
  if (typeof p === "string" || typeof s === "string") return false;
  for (let i = 0; i < p.length; i++) {
    const token = p[i]!;
    if (token === ">") return s.length > i;
    const actual = s[i];
    if (actual === undefined) return false;
    if (token !== "*" && token !== actual) return false;
  }
  return s.length === p.length;
}

/**
 * Whether every subject `requestPattern` can match is also matched by `grantPattern`
 * (grant ⊇ request). A subscription to `a.*` needs a grant such as `a.*`, `a.>` or `>`;
 * `a.b` does not cover it. Invalid input → false.
 */
export function subjectCovers(grantPattern: string, requestPattern: string): boolean {
  const g = subjectTokens(grantPattern, true);
  const r = subjectTokens(requestPattern, true);
  if (typeof g === "string" || typeof r === "string") return false;
  for (let i = 0; i < g.length; i++) {
    const grant = g[i]!;
    const req = r[i];
    // `>` in the grant takes one or more tokens, whatever they are: the request must still
    // have at least one token here, which any token (even its own `>`) guarantees.
    if (grant === ">") return req !== undefined;
    if (req === undefined || req === ">") return false;
    if (grant === "*") continue;
    if (req !== grant) return false;
  }
  return r.length === g.length;
}

// ---------------------------------------------------------------------------------------------
// parse / format

const GRAMMAR_HINT =
  "kv:read|write|delete|list, http:request, http:domain:<host or *.host>, msg:publish:<subject>, msg:subscribe:<subject>, fs:read|write:<guest path>";

/**
 * A guest path for a preopen: absolute, no `.`/`..` components, no empty components (a trailing
 * `/` is dropped), printable. It names where the guest sees the directory, never a host path.
 */
function parseGuestPath(path: string, original: string): string {
  const fail = (why: string) =>
    invalid(`permission '${truncate(original, 64)}': ${why}`, { permission: truncate(original, 64) });
  if (!path.startsWith("/")) throw fail("the guest path must be absolute, as in fs:write:/data");
  if (path.length > MAX_GUEST_PATH_LENGTH)
    throw fail(`the guest path is longer than ${MAX_GUEST_PATH_LENGTH} characters`);
  if (/[\s\p{Cc},]/u.test(path))
    throw fail("the guest path may not contain whitespace, control characters or ','");
  const trimmed = path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path;
  const parts = trimmed.split("/").slice(1);
  if (trimmed !== "/" && parts.some((p) => p === "" || p === "." || p === "..")) {
    throw fail("the guest path may not contain '.', '..' or empty components");
  }
  return trimmed;
}

export function parsePermission(text: string): Permission {
  if (typeof text !== "string") throw invalid("a permission must be a string", {});
  const original = text.trim();
  if (original.length === 0) throw invalid(`a permission cannot be empty; use one of: ${GRAMMAR_HINT}`);
  if (original.length > MAX_PERMISSION_LENGTH) {
    throw invalid(
      `permission is ${original.length} characters long; the maximum is ${MAX_PERMISSION_LENGTH}`,
      { length: original.length, max: MAX_PERMISSION_LENGTH },
    );
  }
  const first = original.indexOf(":");
  const prefix = first < 0 ? original : original.slice(0, first);
  const rest = first < 0 ? "" : original.slice(first + 1);

  switch (prefix) {
    case "kv": {
      if ((KV_ACTIONS as readonly string[]).includes(rest)) return { kind: "kv", action: rest as KvAction };
      throw invalid(`unknown permission '${original}': kv actions are ${KV_ACTIONS.join(", ")}`, {
        permission: original,
      });
    }
    case "http": {
      if (rest === "request") return { kind: "http", scope: "any" };
      if (rest.startsWith("domain:")) {
        const pattern = rest.slice("domain:".length);
        if (pattern.length === 0) {
          throw invalid(`permission '${original}' names no domain; write http:domain:example.com`, {
            permission: original,
          });
        }
        return { kind: "http", scope: "domain", pattern: parseDomainPattern(pattern, original) };
      }
      throw invalid(
        `unknown permission '${original}': http permissions are http:request and http:domain:<host>`,
        { permission: original },
      );
    }
    case "msg": {
      const second = rest.indexOf(":");
      const action = second < 0 ? rest : rest.slice(0, second);
      if (!(MSG_ACTIONS as readonly string[]).includes(action)) {
        throw invalid(
          `unknown permission '${original}': messaging permissions are msg:publish:<subject> and msg:subscribe:<subject>`,
          { permission: original },
        );
      }
      const subject = second < 0 ? "" : rest.slice(second + 1);
      const tokens = subjectTokens(subject, true);
      if (typeof tokens === "string") {
        throw invalid(`permission '${original}': ${tokens}`, { permission: original });
      }
      return { kind: "msg", action: action as MsgAction, subject };
    }
    case "fs":
    case "filesystem": {
      const second = rest.indexOf(":");
      const action = second < 0 ? rest : rest.slice(0, second);
      if (!(FS_ACTIONS as readonly string[]).includes(action) || second < 0) {
        throw invalid(
          `unknown permission '${original}': filesystem permissions are fs:read:<guest path> and fs:write:<guest path>`,
          { permission: original },
        );
      }
      return {
        kind: "fs",
        action: action as FsAction,
        path: parseGuestPath(rest.slice(second + 1), original),
      };
    }
    default:
      throw invalid(`unknown permission '${truncate(original, 64)}'; use one of: ${GRAMMAR_HINT}`, {
        permission: truncate(original, 64),
      });
  }
}

export function formatPermission(permission: Permission): string {
  switch (permission.kind) {
    case "kv":
      return `kv:${permission.action}`;
    case "http":
      return permission.scope === "any" ? "http:request" : `http:domain:${permission.pattern}`;
    case "msg":
      return `msg:${permission.action}:${permission.subject}`;
    case "fs":
      return `fs:${permission.action}:${permission.path}`;
  }
}

/** Parses a comma-separated list (`kv:read,kv:write`); an empty string is an empty list. */
export function parsePermissionList(text: string): Permission[] {
  if (text.trim().length === 0) return [];
  return text.split(",").map((part) => parsePermission(part));
}

/**
 * Checks a value that claims to be a Permission (from the wire or a stored record): a string in
 * the grammar, or an object with exactly the fields of one variant. Returns the canonical form.
 */
export function toPermission(value: unknown): Permission {
  if (typeof value === "string") return parsePermission(value);
  if (isPlainObject(value)) {
    const text = permissionObjectText(value);
    if (text !== null) {
      const parsed = parsePermission(text);
      // The text form must describe the same object: `{action: "publish:x", subject: "y"}`
      // would otherwise sneak through as `msg:publish:x:y`.
      if (
        (parsed.kind === "msg" &&
          (parsed.action !== value["action"] || parsed.subject !== value["subject"])) ||
        (parsed.kind === "fs" && (parsed.action !== value["action"] || parsed.path !== value["path"]))
      ) {
        throw invalid(`permission object does not describe '${truncate(text, 64)}'`, {});
      }
      return parsed;
    }
  }
  throw invalid(
    "a permission must be a string such as 'kv:read' or an object such as { kind: 'kv', action: 'read' }",
    {},
  );
}

function permissionObjectText(v: Record<string, unknown>): string | null {
  const keys = Object.keys(v).length;
  if (v["kind"] === "kv" && keys === 2 && typeof v["action"] === "string") return `kv:${v["action"]}`;
  if (v["kind"] === "http" && v["scope"] === "any" && keys === 2) return "http:request";
  if (v["kind"] === "http" && v["scope"] === "domain" && keys === 3 && typeof v["pattern"] === "string") {
    return `http:domain:${v["pattern"]}`;
  }
  if (
    v["kind"] === "msg" &&
    keys === 3 &&
    typeof v["action"] === "string" &&
    typeof v["subject"] === "string"
  ) {
    return `msg:${v["action"]}:${v["subject"]}`;
  }
  if (v["kind"] === "fs" && keys === 3 && typeof v["action"] === "string" && typeof v["path"] === "string") {
    return `fs:${v["action"]}:${v["path"]}`;
  }
  return null;
}

export function samePermission(a: Permission, b: Permission): boolean {
  return formatPermission(a) === formatPermission(b);
}

// ---------------------------------------------------------------------------------------------
// matching

/** Whether one grant allows the request. Malformed requests are never allowed. */
export function grantAllows(grant: Permission, request: PermissionRequest): boolean {
  switch (request.kind) {
    case "kv":
      return grant.kind === "kv" && grant.action === request.action;
    case "http": {
      if (grant.kind !== "http") return false;
      const host = normalizeHost(request.host);
      if (host === null) return false;
      return grant.scope === "any" || hostMatches(grant.pattern, host);
    }
    case "msg": {
      if (grant.kind !== "msg" || grant.action !== request.action) return false;
      return request.action === "publish"
        ? subjectMatches(grant.subject, request.subject)
        : subjectCovers(grant.subject, request.subject);
    }
    default:
      return false;
  }
}

/** Deny by default: true only when some grant allows the request. */
export function isAllowed(grants: readonly Permission[], request: PermissionRequest): boolean {
  return grants.some((grant) => grantAllows(grant, request));
}

/**
 * The narrowest permission that would allow the request, for error messages that tell the user
 * what to grant; null when the request is malformed (no grant allows it).
 */
export function requiredPermission(request: PermissionRequest): Permission | null {
  switch (request.kind) {
    case "kv":
      return (KV_ACTIONS as readonly string[]).includes(request.action)
        ? { kind: "kv", action: request.action }
        : null;
    case "http": {
      const host = normalizeHost(request.host);
      // A bracketed IPv6 host can only be reached with http:request.
      if (host === null) return null;
      return host.startsWith("[")
        ? { kind: "http", scope: "any" }
        : { kind: "http", scope: "domain", pattern: host };
    }
    case "msg": {
      const wildcards = request.action === "subscribe";
      if (!(MSG_ACTIONS as readonly string[]).includes(request.action)) return null;
      if (!isValidSubject(request.subject, wildcards)) return null;
      return { kind: "msg", action: request.action, subject: request.subject };
    }
    default:
      return null;
  }
}

/** A short label for logs and error messages (`kv:write`, `msg publish on 'a.b'`). */
export function describeRequest(request: PermissionRequest): string {
  switch (request.kind) {
    case "kv":
      return `kv:${request.action}`;
    case "http":
      return `http request to '${truncate(String(request.host), 64)}'`;
    case "msg":
      return `msg ${request.action} on '${truncate(String(request.subject), 64)}'`;
    default:
      return "unknown request";
  }
}

/**
 * Throws PERMISSION_DENIED unless some grant allows the request. The details carry the
 * operation and the resource as fields, so callers never parse the message.
 */
export function checkPermission(
  grants: readonly Permission[],
  request: PermissionRequest,
  context: ErrorDetails = {},
): void {
  if (isAllowed(grants, request)) return;
  const required = requiredPermission(request);
  const resource =
    request.kind === "http" ? request.host : request.kind === "msg" ? request.subject : undefined;
  const operation = request.kind === "http" ? "request" : request.action;
  throw new WasmatrixError(
    ErrorCode.PERMISSION_DENIED,
    required === null
      ? `${describeRequest(request)} is not allowed: the request is malformed`
      : `${describeRequest(request)} is not allowed; grant '${formatPermission(required)}' (or broader) to the assignment`,
    {
      capability: CAPABILITY_OF_PERMISSION[request.kind] ?? null,
      operation,
      ...(resource === undefined ? {} : { resource }),
      required: required === null ? null : formatPermission(required),
      ...context,
    },
  );
}

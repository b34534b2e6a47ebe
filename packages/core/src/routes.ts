import { InstanceId } from "./ids.js";
import { validateLabels } from "./metadata.js";
import { invalid } from "./validation.js";

/**
 * HTTP routes (docs/gateway.md): which requests a gateway hands to which instance. Pure: the
 * control plane validates with `checkRoute`, every gateway decides with `matchRoute` and
 * `pickTarget`.
 */

/** The operation a route invokes when it names none. */
export const DEFAULT_HTTP_OPERATION = "http";
export const MAX_ROUTES = 10_000;

export type RouteTarget =
  | { readonly kind: "instance"; readonly instanceId: string }
  | { readonly kind: "label"; readonly key: string; readonly value: string };

export interface Route {
  readonly name: string;
  /** Starts with "/", no trailing "/" except the root itself. */
  readonly pathPrefix: string;
  /** Lower case, without port; "" matches any host. */
  readonly host: string;
  /** Upper case; empty matches any method. */
  readonly methods: readonly string[];
  readonly target: RouteTarget;
  readonly operation: string;
}

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const METHOD_PATTERN = /^[A-Z]{1,16}$/;
const HOST_PATTERN = /^[a-z0-9*]([a-z0-9.-]{0,252})$/;

export function parseRouteName(value: string): string {
  if (!NAME_PATTERN.test(value)) {
    throw invalid(
      `route name '${value.slice(0, 80)}' must be 1-63 of [A-Za-z0-9._-], starting alphanumeric`,
      {
        field: "name",
      },
    );
  }
  return value;
}

/** "/api/" → "/api"; refuses anything that is not an absolute path without query or fragment. */
export function normalizePathPrefix(value: string): string {
  if (!value.startsWith("/") || /[?#\s]/.test(value) || value.length > 1024) {
    throw invalid(`route path '${value.slice(0, 80)}' must start with '/' and hold no '?', '#' or spaces`, {
      field: "pathPrefix",
    });
  }
  const trimmed = value.replace(/\/+$/, "");
  return trimmed === "" ? "/" : trimmed;
}

/** A route as a caller described it, checked and normalised (the only way routes are built). */
export function checkRoute(input: {
  name: string;
  pathPrefix: string;
  host?: string;
  methods?: readonly string[];
  target: RouteTarget;
  operation?: string;
}): Route {
  const name = parseRouteName(input.name);
  const pathPrefix = normalizePathPrefix(input.pathPrefix);
  const host = (input.host ?? "").toLowerCase();
  if (host !== "" && !HOST_PATTERN.test(host)) {
    throw invalid(`route host '${host.slice(0, 80)}' is not a host name (no port, no scheme)`, {
      field: "host",
    });
  }
  const methods = [...new Set((input.methods ?? []).map((m) => m.trim().toUpperCase()))].sort();
  for (const method of methods) {
    if (!METHOD_PATTERN.test(method))
      throw invalid(`'${method.slice(0, 20)}' is not an HTTP method`, { field: "methods" });
  }
  const target = input.target;
  if (target.kind === "instance") InstanceId.parse(target.instanceId);
  else validateLabels({ [target.key]: target.value });
  const operation =
    input.operation === undefined || input.operation === "" ? DEFAULT_HTTP_OPERATION : input.operation;
  if (operation.length > 128)
    throw invalid("route operation is longer than 128 characters", { field: "operation" });
  return { name, pathPrefix, host, methods, target, operation };
}

/** `label:app=web` or the instance id: how facts and tables show a target. */
export function formatRouteTarget(target: RouteTarget): string {
  return target.kind === "instance" ? target.instanceId : `label:${target.key}=${target.value}`;
}

/** True when `path` is `prefix` or lies under it by whole segments (`/api` covers `/api/x`, not `/apix`). */
export function pathUnder(prefix: string, path: string): boolean {
  if (prefix === "/") return path.startsWith("/");
  return path === prefix || (path.startsWith(prefix) && path[prefix.length] === "/");
}

function hostMatches(routeHost: string, host: string): boolean {
  if (routeHost === "") return true;
  if (routeHost.startsWith("*."))
    return host.endsWith(routeHost.slice(1)) && host.length > routeHost.length - 1;
  return routeHost === host;
}

export type RouteMatch =
  | { readonly kind: "matched"; readonly route: Route }
  | { readonly kind: "not_found" }
  | { readonly kind: "method_not_allowed"; readonly allow: readonly string[] };

/**
 * The route for a request: among routes whose host matches (a named host beats "any host"), the
 * longest path prefix wins; if that prefix's routes do not take the method, 405 with the methods
 * they do take.
 */
export function matchRoute(
  routes: readonly Route[],
  request: { host: string; method: string; path: string },
): RouteMatch {
  const host = request.host.toLowerCase().replace(/:\d+$/, "");
  let best: Route[] = [];
  let bestScore = -1;
  for (const route of routes) {
    if (!hostMatches(route.host, host) || !pathUnder(route.pathPrefix, request.path)) continue;
    // Path length first; at equal length a route naming a host is more specific.
    const score = route.pathPrefix.length * 2 + (route.host === "" ? 0 : 1);
    if (score > bestScore) {
      best = [route];
      bestScore = score;
    } else if (score === bestScore) best.push(route);
  }
  if (best.length === 0) return { kind: "not_found" };
  const method = request.method.toUpperCase();
  const taking = best.filter((r) => r.methods.length === 0 || r.methods.includes(method));
  if (taking.length > 0) {
    // Stable choice among equals: the smallest name.
    const route = taking.reduce((a, b) => (b.name < a.name ? b : a));
    return { kind: "matched", route };
  }
  const allow = [...new Set(best.flatMap((r) => r.methods))].sort();
  return { kind: "method_not_allowed", allow };
}

export interface Candidate {
  readonly instanceId: string;
  readonly status: string;
  readonly labels: Readonly<Record<string, string>>;
}

/**
 * The instance a label route sends the next request to: among running instances carrying the
 * label (restarting, crashed and others skipped), the one with the fewest outstanding requests;
 * ties go to the smallest id so that the choice is deterministic. Undefined when none runs.
 */
export function pickTarget(
  target: RouteTarget,
  candidates: Iterable<Candidate>,
  outstanding: (instanceId: string) => number,
  excluded: ReadonlySet<string> = new Set(),
): string | undefined {
  let best: string | undefined;
  let bestLoad = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    if (c.status !== "running" || excluded.has(c.instanceId)) continue;
    if (
      target.kind === "instance" ? c.instanceId !== target.instanceId : c.labels[target.key] !== target.value
    ) {
      continue;
    }
    const load = outstanding(c.instanceId);
    if (load < bestLoad || (load === bestLoad && best !== undefined && c.instanceId < best)) {
      best = c.instanceId;
      bestLoad = load;
    }
  }
  return best;
}

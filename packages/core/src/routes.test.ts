import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkRoute, matchRoute, pathUnder, pickTarget, type Route } from "./routes.js";
import { expectCode } from "./test-support/expect-code.js";

const segment = fc.constantFrom("a", "b", "api", "v1", "x");
const path = fc.array(segment, { maxLength: 4 }).map((s) => `/${s.join("/")}`);
const route = (
  name: string,
  pathPrefix: string,
  extra: Partial<Parameters<typeof checkRoute>[0]> = {},
): Route => checkRoute({ name, pathPrefix, target: { kind: "instance", instanceId: name }, ...extra });

describe("route matching", () => {
  it("picks the longest prefix that covers the path by whole segments", () => {
    fc.assert(
      fc.property(fc.uniqueArray(path, { minLength: 1, maxLength: 6 }), path, (prefixes, requested) => {
        const routes = prefixes.map((p, i) => route(`r${i}`, p));
        const match = matchRoute(routes, { host: "h", method: "GET", path: requested });
        const covering = routes.filter((r) => pathUnder(r.pathPrefix, requested));
        if (covering.length === 0) {
          expect(match.kind).toBe("not_found");
          return;
        }
        expect(match.kind).toBe("matched");
        if (match.kind !== "matched") return;
        expect(pathUnder(match.route.pathPrefix, requested)).toBe(true);
        const longest = Math.max(...covering.map((r) => r.pathPrefix.length));
        expect(match.route.pathPrefix.length).toBe(longest);
      }),
    );
  });

  it("never matches a prefix that only shares characters with a segment", () => {
    expect(matchRoute([route("api", "/api")], { host: "", method: "GET", path: "/apiary" }).kind).toBe(
      "not_found",
    );
    expect(matchRoute([route("api", "/api/")], { host: "", method: "GET", path: "/api" }).kind).toBe(
      "matched",
    );
  });

  it("prefers a route naming the host, and skips routes for other hosts", () => {
    const routes = [
      route("any", "/"),
      route("named", "/", { host: "Example.com" }),
      route("other", "/x", { host: "b.com" }),
    ];
    const on = (host: string, p = "/x") => matchRoute(routes, { host, method: "GET", path: p });
    expect(on("example.com:8080")).toMatchObject({ kind: "matched", route: { name: "named" } });
    expect(on("c.com")).toMatchObject({ kind: "matched", route: { name: "any" } });
    expect(on("b.com")).toMatchObject({ kind: "matched", route: { name: "other" } });
  });

  it("answers method_not_allowed with the methods the best prefix takes", () => {
    const routes = [route("ro", "/ro", { methods: ["get", "HEAD"] }), route("root", "/")];
    expect(matchRoute(routes, { host: "", method: "POST", path: "/ro/1" })).toEqual({
      kind: "method_not_allowed",
      allow: ["GET", "HEAD"],
    });
    expect(matchRoute(routes, { host: "", method: "get", path: "/ro" }).kind).toBe("matched");
  });

  it("refuses malformed routes with INVALID_REQUEST", () => {
    for (const bad of [
      () => route("no spaces", "/"),
      () => route("ok", "relative"),
      () => route("ok", "/q?x"),
      () => route("ok", "/", { methods: ["G ET"] }),
      () => route("ok", "/", { host: "http://x" }),
    ]) {
      expectCode(bad, "INVALID_REQUEST");
    }
  });
});

describe("picking an instance for a route", () => {
  const label = { kind: "label", key: "app", value: "web" } as const;

  it("chooses a running instance with the label and the fewest outstanding requests", () => {
    const status = fc.constantFrom("running", "restarting", "crashed", "stopped");
    fc.assert(
      fc.property(
        fc.uniqueArray(
          fc.record({
            id: fc.constantFrom("a", "b", "c", "d", "e"),
            status,
            app: fc.constantFrom("web", "api"),
            load: fc.nat(5),
          }),
          { selector: (c) => c.id, maxLength: 5 },
        ),
        (cands) => {
          const loads = new Map<string, number>(cands.map((c) => [c.id, c.load]));
          const chosen = pickTarget(
            label,
            cands.map((c) => ({ instanceId: c.id, status: c.status, labels: { app: c.app } })),
            (id) => loads.get(id) ?? 0,
          );
          const eligible = cands.filter((c) => c.status === "running" && c.app === "web");
          if (eligible.length === 0) {
            expect(chosen).toBeUndefined();
            return;
          }
          const min = Math.min(...eligible.map((c) => c.load));
          const pick = eligible.find((c) => c.id === chosen);
          expect(pick).toBeDefined();
          expect(pick!.load).toBe(min);
        },
      ),
    );
  });

  it("skips excluded instances (ones a failed call showed unreachable)", () => {
    const cands = [
      { instanceId: "a", status: "running", labels: { app: "web" } },
      { instanceId: "b", status: "running", labels: { app: "web" } },
    ];
    expect(pickTarget(label, cands, () => 0)).toBe("a");
    expect(pickTarget(label, cands, () => 0, new Set(["a"]))).toBe("b");
    expect(pickTarget(label, cands, () => 0, new Set(["a", "b"]))).toBeUndefined();
  });
});

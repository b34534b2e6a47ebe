import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ErrorCode } from "./errors.js";
import {
  checkPermission,
  formatPermission,
  isAllowed,
  normalizeHost,
  type Permission,
  type PermissionRequest,
  parsePermission,
  parsePermissionList,
  requiredPermission,
  subjectCovers,
  subjectMatches,
  toPermission,
} from "./permissions.js";
import { expectCode } from "./test-support/expect-code.js";

const RUNS = { numRuns: 200 };

// Small alphabets so that random grants and requests collide often.
const label = fc.constantFrom("a", "b", "c", "x");
const host = fc.array(label, { minLength: 1, maxLength: 4 }).map((labels) => labels.join("."));
const domainPattern = fc.oneof(
  host,
  host.map((h) => `*.${h}`),
);
const literal = fc.constantFrom("a", "b", "c");
const concreteSubject = fc.array(literal, { minLength: 1, maxLength: 5 }).map((t) => t.join("."));
const subjectPattern = fc
  .tuple(fc.array(fc.constantFrom("a", "b", "c", "*"), { minLength: 0, maxLength: 4 }), fc.boolean())
  .filter(([tokens, tail]) => tokens.length > 0 || tail)
  .map(([tokens, tail]) => [...tokens, ...(tail ? [">"] : [])].join("."));

const kvAction = fc.constantFrom("read", "write", "delete", "list") as fc.Arbitrary<
  "read" | "write" | "delete" | "list"
>;
const msgAction = fc.constantFrom("publish", "subscribe") as fc.Arbitrary<"publish" | "subscribe">;

const permission: fc.Arbitrary<Permission> = fc.oneof(
  kvAction.map((action) => ({ kind: "kv", action }) as const),
  fc.constant({ kind: "http", scope: "any" } as const),
  domainPattern.map((pattern) => ({ kind: "http", scope: "domain", pattern }) as const),
  fc.tuple(msgAction, subjectPattern).map(([action, subject]) => ({ kind: "msg", action, subject }) as const),
);

const request: fc.Arbitrary<PermissionRequest> = fc.oneof(
  kvAction.map((action) => ({ kind: "kv", action }) as const),
  host.map((h) => ({ kind: "http", host: h }) as const),
  concreteSubject.map((subject) => ({ kind: "msg", action: "publish", subject }) as const),
  fc
    .oneof(concreteSubject, subjectPattern)
    .map((subject) => ({ kind: "msg", action: "subscribe", subject }) as const),
);

/** The documented meaning of a pattern, as an independent regular expression. */
function subjectRegex(pattern: string): RegExp {
  const parts = pattern
    .split(".")
    .map((t) =>
      t === "*" ? "[^.]+" : t === ">" ? "[^.]+(?:\\.[^.]+)*" : t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"),
    );
  return new RegExp(`^${parts.join("\\.")}$`);
}

function hostRegex(pattern: string): RegExp {
  const quote = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return pattern.startsWith("*.")
    ? new RegExp(`^.+\\.${quote(pattern.slice(2))}$`)
    : new RegExp(`^${quote(pattern)}$`);
}

/** Every concrete subject up to `maxTokens` tokens over a, b, c and a fresh token z. */
function allSubjects(maxTokens: number): string[] {
  const out: string[] = [];
  let level: string[] = [""];
  for (let n = 1; n <= maxTokens; n++) {
    level = level.flatMap((prefix) =>
      ["a", "b", "c", "z"].map((t) => (prefix === "" ? t : `${prefix}.${t}`)),
    );
    out.push(...level);
  }
  return out;
}
const SUBJECTS_UP_TO_6 = allSubjects(6);

describe("subject matching", () => {
  it("matches wildcards exactly as documented: * one token, > one or more trailing tokens", () => {
    fc.assert(
      fc.property(subjectPattern, concreteSubject, (pattern, subject) => {
        expect(subjectMatches(pattern, subject)).toBe(subjectRegex(pattern).test(subject));
      }),
      RUNS,
    );
  });

  it("never lets a pattern without > match a subject of another length", () => {
    fc.assert(
      fc.property(subjectPattern, concreteSubject, (pattern, subject) => {
        fc.pre(!pattern.includes(">"));
        if (subjectMatches(pattern, subject)) {
          expect(subject.split(".").length).toBe(pattern.split(".").length);
        }
      }),
      RUNS,
    );
  });

  it("covers a request pattern exactly when every subject it matches is matched by the grant", () => {
    fc.assert(
      fc.property(subjectPattern, subjectPattern, (grant, requested) => {
        const maxTokens = Math.max(grant.split(".").length, requested.split(".").length) + 1;
        const universe = SUBJECTS_UP_TO_6.filter((s) => s.split(".").length <= maxTokens);
        const rq = subjectRegex(requested);
        const gr = subjectRegex(grant);
        const bruteForce = universe.every((s) => !rq.test(s) || gr.test(s));
        expect(subjectCovers(grant, requested)).toBe(bruteForce);
      }),
      RUNS,
    );
  });

  it("is consistent with matching: a covered pattern's subjects are all matched by the grant", () => {
    fc.assert(
      fc.property(subjectPattern, subjectPattern, concreteSubject, (grant, requested, subject) => {
        if (subjectCovers(grant, requested) && subjectMatches(requested, subject)) {
          expect(subjectMatches(grant, subject)).toBe(true);
        }
      }),
      RUNS,
    );
  });

  it("treats every pattern as covering itself and > as covering everything", () => {
    fc.assert(
      fc.property(subjectPattern, (pattern) => {
        expect(subjectCovers(pattern, pattern)).toBe(true);
        expect(subjectCovers(">", pattern)).toBe(true);
      }),
      RUNS,
    );
  });

  it("refuses malformed subjects instead of matching them", () => {
    for (const bad of ["", "a..b", ".a", "a.", "a.>.b", "a b", "a*b", "a.b>"]) {
      expect(subjectMatches(">", bad)).toBe(false);
      expect(subjectCovers(">", bad)).toBe(false);
    }
    expect(subjectMatches("a.*", "a.*")).toBe(false); // a publish subject is concrete
  });
});

describe("permission matching", () => {
  it("denies everything when there is no grant", () => {
    fc.assert(
      fc.property(request, (r) => {
        expect(isAllowed([], r)).toBe(false);
      }),
      RUNS,
    );
  });

  it("never lets a grant imply anything broader than its documented meaning", () => {
    fc.assert(
      fc.property(permission, request, (grant, r) => {
        const allowed = isAllowed([grant], r);
        let expected: boolean;
        if (r.kind === "kv") expected = grant.kind === "kv" && grant.action === r.action;
        else if (r.kind === "http") {
          expected =
            grant.kind === "http" && (grant.scope === "any" || hostRegex(grant.pattern).test(r.host));
        } else if (grant.kind !== "msg" || grant.action !== r.action) expected = false;
        else if (r.action === "publish") expected = subjectRegex(grant.subject).test(r.subject);
        else expected = subjectCovers(grant.subject, r.subject);
        expect(allowed).toBe(expected);
      }),
      RUNS,
    );
  });

  it("never lets *.a.com allow a.com itself or a host outside a.com", () => {
    fc.assert(
      fc.property(host, host, (domain, requested) => {
        const grant = parsePermission(`http:domain:*.${domain}`);
        const allowed = isAllowed([grant], { kind: "http", host: requested });
        expect(allowed).toBe(requested.endsWith(`.${domain}`));
        expect(isAllowed([grant], { kind: "http", host: domain })).toBe(false);
      }),
      RUNS,
    );
    const grant = [parsePermission("http:domain:*.a.com")];
    expect(isAllowed(grant, { kind: "http", host: "a.com" })).toBe(false);
    expect(isAllowed(grant, { kind: "http", host: "x.b.com" })).toBe(false);
    expect(isAllowed(grant, { kind: "http", host: "evila.com" })).toBe(false);
    expect(isAllowed(grant, { kind: "http", host: "x.a.com" })).toBe(true);
    expect(isAllowed(grant, { kind: "http", host: "deep.x.a.com" })).toBe(true);
  });

  it("compares hosts case-insensitively and ignores one trailing dot", () => {
    const grant = [parsePermission("http:domain:Example.COM")];
    expect(isAllowed(grant, { kind: "http", host: "EXAMPLE.com" })).toBe(true);
    expect(isAllowed(grant, { kind: "http", host: "example.com." })).toBe(true);
    expect(isAllowed(grant, { kind: "http", host: "example.com:443" })).toBe(false);
    expect(isAllowed(grant, { kind: "http", host: "" })).toBe(false);
    expect(normalizeHost("[::1]")).toBe("[::1]");
    expect(isAllowed([parsePermission("http:request")], { kind: "http", host: "[::1]" })).toBe(true);
  });

  it("never lets msg:publish:a.* allow a.b.c", () => {
    const grant = [parsePermission("msg:publish:a.*")];
    expect(isAllowed(grant, { kind: "msg", action: "publish", subject: "a.b.c" })).toBe(false);
    expect(isAllowed(grant, { kind: "msg", action: "publish", subject: "a.b" })).toBe(true);
    expect(isAllowed(grant, { kind: "msg", action: "publish", subject: "a" })).toBe(false);
    const deep = [parsePermission("msg:publish:a.>")];
    expect(isAllowed(deep, { kind: "msg", action: "publish", subject: "a.b.c" })).toBe(true);
    expect(isAllowed(deep, { kind: "msg", action: "publish", subject: "a" })).toBe(false);
  });

  it("keeps publish and subscribe grants apart", () => {
    fc.assert(
      fc.property(subjectPattern, concreteSubject, msgAction, (pattern, subject, action) => {
        const other = action === "publish" ? "subscribe" : "publish";
        const grant = [{ kind: "msg", action, subject: pattern } as const];
        expect(isAllowed(grant, { kind: "msg", action: other, subject })).toBe(false);
      }),
      RUNS,
    );
  });

  it("allows a subscription to a pattern only under a grant that covers it", () => {
    const sub = (subject: string): PermissionRequest => ({ kind: "msg", action: "subscribe", subject });
    expect(isAllowed([parsePermission("msg:subscribe:a.*")], sub("a.*"))).toBe(true);
    expect(isAllowed([parsePermission("msg:subscribe:a.>")], sub("a.*"))).toBe(true);
    expect(isAllowed([parsePermission("msg:subscribe:a.b")], sub("a.*"))).toBe(false);
    expect(isAllowed([parsePermission("msg:subscribe:a.*")], sub("a.>"))).toBe(false);
    expect(
      isAllowed([parsePermission("msg:subscribe:a.*")], { kind: "msg", action: "publish", subject: "a.*" }),
    ).toBe(false);
  });

  it("names, for any well-formed request, a required permission that allows it", () => {
    fc.assert(
      fc.property(request, (r) => {
        const required = requiredPermission(r);
        expect(required).not.toBeNull();
        expect(isAllowed([required!], r)).toBe(true);
      }),
      RUNS,
    );
  });

  it("throws PERMISSION_DENIED carrying the operation and resource as fields", () => {
    const failure = expectCode(
      () =>
        checkPermission([parsePermission("kv:read")], {
          kind: "msg",
          action: "publish",
          subject: "orders.new",
        }),
      ErrorCode.PERMISSION_DENIED,
    );
    expect(failure.details).toMatchObject({
      capability: "messaging",
      operation: "publish",
      resource: "orders.new",
      required: "msg:publish:orders.new",
    });
    expect(() => checkPermission([parsePermission("kv:read")], { kind: "kv", action: "read" })).not.toThrow();
  });
});

describe("permission parsing", () => {
  it("round-trips: parse(format(p)) equals p", () => {
    fc.assert(
      fc.property(permission, (p) => {
        expect(parsePermission(formatPermission(p))).toEqual(p);
        expect(toPermission(p)).toEqual(p);
      }),
      RUNS,
    );
  });

  it("reads every form of the grammar", () => {
    expect(parsePermission("kv:list")).toEqual({ kind: "kv", action: "list" });
    expect(parsePermission("http:request")).toEqual({ kind: "http", scope: "any" });
    expect(parsePermission(" http:domain:*.Example.com ")).toEqual({
      kind: "http",
      scope: "domain",
      pattern: "*.example.com",
    });
    expect(parsePermission("msg:subscribe:orders.>")).toEqual({
      kind: "msg",
      action: "subscribe",
      subject: "orders.>",
    });
    expect(parsePermission("msg:publish:a:b.c")).toEqual({
      kind: "msg",
      action: "publish",
      subject: "a:b.c",
    });
    expect(parsePermissionList("kv:read,kv:write")).toHaveLength(2);
    expect(parsePermissionList("")).toEqual([]);
  });

  it.each([
    ["", "cannot be empty"],
    ["kv", "kv actions are"],
    ["kv:reed", "kv actions are"],
    ["KV:read", "unknown permission"],
    ["http", "http permissions are"],
    ["http:domain:", "names no domain"],
    ["http:domain:*", "write http:request"],
    ["http:domain:a.*.com", "only a leading '*.'"],
    ["http:domain:*.*.a.com", "only a leading '*.'"],
    ["http:domain:exa mple.com", "not a host name"],
    ["http:domain:*.0.0.1", "IP address"],
    ["msg:send:a", "messaging permissions are"],
    ["msg:publish:", "empty"],
    ["msg:publish:a..b", "must not be empty"],
    ["msg:publish:a.>.b", "last token"],
    ["msg:subscribe:a b", "may not contain whitespace"],
    ["msg:subscribe:a*b", "may not contain"],
    ["msg:subscribe:a,b", "may not contain"],
    ["fs:read", "fs:read:<guest path>"],
    ["fs:exec:/data", "filesystem permissions are"],
    ["fs:read:data", "must be absolute"],
    ["fs:write:/data/../etc", "'..'"],
    ["fs:write:/a//b", "empty components"],
    ["fs:write:/a b", "whitespace"],
    ["unknown:read", "use one of"],
  ])("refuses %j with INVALID_REQUEST saying what is wrong", (text, fragment) => {
    const failure = expectCode(() => parsePermission(text), ErrorCode.INVALID_REQUEST);
    expect(failure.message).toContain(fragment);
  });

  it("reads filesystem permissions, with `filesystem:` as another spelling of `fs:`", () => {
    expect(parsePermission("fs:write:/data/")).toEqual({ kind: "fs", action: "write", path: "/data" });
    expect(parsePermission("filesystem:read:/data")).toEqual({ kind: "fs", action: "read", path: "/data" });
    expect(formatPermission(parsePermission("filesystem:read:/etc/app"))).toBe("fs:read:/etc/app");
    expect(toPermission({ kind: "fs", action: "write", path: "/data" })).toEqual(
      parsePermission("fs:write:/data"),
    );
    expectCode(() => toPermission({ kind: "fs", action: "write:/x", path: "/y" }), ErrorCode.INVALID_REQUEST);
  });

  it("refuses permission objects that do not describe exactly one permission", () => {
    expectCode(() => toPermission({ kind: "kv", action: "read", extra: 1 }), ErrorCode.INVALID_REQUEST);
    expectCode(
      () => toPermission({ kind: "msg", action: "publish:x", subject: "y" }),
      ErrorCode.INVALID_REQUEST,
    );
    expectCode(() => toPermission(42), ErrorCode.INVALID_REQUEST);
  });
});

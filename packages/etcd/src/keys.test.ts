import { ErrorCode, MAX_ID_LENGTH, WasmatrixError } from "@wasmatrix/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  ALLOWED_PREFIXES,
  assertAllowedKey,
  NODES_PREFIX,
  nodeKey,
  PROVIDERS_PREFIX,
  parseKey,
  providerKey,
  ROUTES_PREFIX,
  routeKey,
  tickKey,
  triggerKey,
} from "./keys.js";

// Written independently of keys.ts: the whole of what may be written to etcd, as one expression.
const ID = `[A-Za-z0-9][A-Za-z0-9._-]{0,${MAX_ID_LENGTH - 1}}`;
const ROUTE = "[A-Za-z0-9][A-Za-z0-9._-]{0,62}";
const ORACLE = new RegExp(
  `^/wasmatrix/v1/((nodes|providers|triggers)/${ID}|routes/${ROUTE}|ticks/${ID}/(0|[1-9][0-9]{0,15})|revocations/tok_[A-Za-z0-9_-]{1,64})$`,
);

function refusal(key: unknown): WasmatrixError | null {
  try {
    assertAllowedKey(key);
    return null;
  } catch (error) {
    if (!WasmatrixError.is(error)) throw error;
    return error;
  }
}

const idChar = fc.constantFrom(..."abcXYZ019._-".split(""));
const validId = fc
  .tuple(fc.constantFrom(..."aZ09".split("")), fc.string({ unit: idChar, maxLength: MAX_ID_LENGTH - 1 }))
  .map(([first, rest]) => first + rest);
// Near misses: the right prefixes around the wrong things, the wrong prefixes around the right
// things, and the words that name what must never be stored.
const segment = fc.oneof(
  validId,
  fc.constantFrom("", ".", "..", "-x", "_x", "a b", "a/b", "a*", "a>", "é", "\u0000", "x\n"),
  fc.string({ maxLength: 12 }),
  fc.string({ unit: "binary", maxLength: 12 }),
);
const root = fc.constantFrom(
  "/wasmatrix/v1/",
  "/wasmatrix/v2/",
  "/wasmatrix/",
  "wasmatrix/v1/",
  "/Wasmatrix/v1/",
  "//wasmatrix/v1/",
  "/wasmatrix/v1//",
  "",
  "/",
);
const kind = fc.constantFrom(
  "nodes",
  "providers",
  "revocations",
  "revocation",
  "revocations/tok_x/data",
  "triggers",
  "ticks",
  "ticks/t",
  "routes",
  "route",
  "routes/r/extra",
  "trigger",
  "node",
  "provider",
  "instances",
  "facts",
  "logs",
  "desired",
  "state",
  "leases",
  "nodes/x/instances",
  "providers/p/data",
  "NODES",
);
const nearMiss = fc
  .tuple(
    root,
    kind,
    fc.constantFrom("/", "", "//"),
    segment,
    fc.constantFrom("", "/", "/extra", "/..", "\n", "/0", "/1767225600000", "/01", "/-1", "/1.5"),
  )
  .map((parts) => parts.join(""));
const anyKey = fc.oneof(nearMiss, fc.string({ maxLength: 80 }), fc.string({ unit: "binary", maxLength: 80 }));

describe("the etcd key guard", () => {
  it("refuses, with INVALID_REQUEST, every key outside the node, provider, trigger, tick, route and revocation prefixes", () => {
    fc.assert(
      fc.property(anyKey, (key) => {
        const error = refusal(key);
        if (ORACLE.test(key)) {
          expect(error).toBeNull();
        } else {
          expect(error?.code).toBe(ErrorCode.INVALID_REQUEST);
          expect(error?.details["allowedPrefixes"]).toEqual([...ALLOWED_PREFIXES]);
        }
      }),
      { numRuns: 2_000 },
    );
  });

  it("refuses every key that would hold instance state, logs, facts or desired state", () => {
    const forbidden = fc
      .tuple(
        fc.constantFrom("instances", "facts", "logs", "desired", "desired-state", "state", "events"),
        validId,
        fc.constantFrom("", "/status", "/log/1"),
      )
      .chain(([what, id, rest]) =>
        fc.constantFrom(
          `/wasmatrix/v1/${what}/${id}${rest}`,
          `${NODES_PREFIX}${id}/${what}${rest}`,
          `${PROVIDERS_PREFIX}${id}/${what}${rest}`,
          `/${what}/${id}`,
        ),
      );
    fc.assert(
      fc.property(forbidden, (key) => {
        expect(refusal(key)?.code).toBe(ErrorCode.INVALID_REQUEST);
      }),
      { numRuns: 500 },
    );
  });

  it("accepts every valid node and provider key and names what it holds", () => {
    fc.assert(
      fc.property(
        fc.constantFrom("node", "provider") as fc.Arbitrary<"node" | "provider">,
        validId,
        (kind, id) => {
          const key = kind === "node" ? nodeKey(id) : providerKey(id);
          expect(refusal(key)).toBeNull();
          expect(parseKey(key)).toEqual({ kind, id });
        },
      ),
      { numRuns: 500 },
    );
  });

  it("accepts trigger and tick keys built from valid names, and names what they hold", () => {
    fc.assert(
      fc.property(validId, fc.nat(), (name, at) => {
        expect(parseKey(triggerKey(name))).toEqual({ kind: "trigger", id: name });
        expect(parseKey(tickKey(name, at))).toEqual({ kind: "tick", id: `${name}/${at}` });
      }),
      { numRuns: 500 },
    );
    expect(() => tickKey("t", -1)).toThrow(WasmatrixError);
    expect(() => triggerKey("a/b")).toThrow(WasmatrixError);
  });

  it("accepts route keys built from valid route names, and refuses names no route may have", () => {
    const routeName = fc
      .tuple(fc.constantFrom(..."aZ09".split("")), fc.string({ unit: idChar, maxLength: 62 }))
      .map(([first, rest]) => first + rest);
    fc.assert(
      fc.property(routeName, (name) => {
        expect(routeKey(name)).toBe(`${ROUTES_PREFIX}${name}`);
        expect(refusal(routeKey(name))).toBeNull();
        expect(parseKey(routeKey(name))).toEqual({ kind: "route", id: name });
      }),
      { numRuns: 500 },
    );
    for (const bad of ["", "a/b", "-x", "x".repeat(64), "a b", "../x"]) {
      expect(() => routeKey(bad)).toThrow(WasmatrixError);
      expect(refusal(`${ROUTES_PREFIX}${bad}`)?.code).toBe(ErrorCode.INVALID_REQUEST);
    }
  });

  it("refuses keys that are not strings", () => {
    for (const key of [
      Buffer.from(`${NODES_PREFIX}n1`),
      7,
      null,
      undefined,
      { toString: () => `${NODES_PREFIX}n1` },
    ]) {
      expect(refusal(key)?.code).toBe(ErrorCode.INVALID_REQUEST);
    }
  });

  it("builds keys only from valid ids", () => {
    expect(nodeKey("n-1")).toBe("/wasmatrix/v1/nodes/n-1");
    expect(providerKey("kv.1")).toBe("/wasmatrix/v1/providers/kv.1");
    for (const bad of ["", "../x", "a/b", "x".repeat(MAX_ID_LENGTH + 1), " a"]) {
      expect(() => nodeKey(bad)).toThrow(WasmatrixError);
      expect(() => providerKey(bad)).toThrow(WasmatrixError);
    }
  });
});

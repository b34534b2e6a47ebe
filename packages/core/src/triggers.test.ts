import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ErrorCode, WasmatrixError } from "./errors.js";
import { parseLabelSelector, selectTargets, TriggerName, validateTriggerTarget } from "./triggers.js";

const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    return WasmatrixError.is(error) ? error.code : "not a WasmatrixError";
  }
  return null;
};

const labels = fc.dictionary(fc.constantFrom("app", "tier", "zone"), fc.constantFrom("a", "b"), {
  maxKeys: 3,
});
const instances = fc.uniqueArray(
  fc.record({
    instanceId: fc.constantFrom("i1", "i2", "i3", "i4", "i5", "i6"),
    status: fc.constantFrom("running", "restarting", "stopped", "crashed"),
    labels: fc.option(labels, { nil: undefined }),
  }),
  { selector: (i) => i.instanceId, maxLength: 6 },
);

describe("trigger targets", () => {
  it("select by labels exactly the running instances carrying every label, in id order", () => {
    fc.assert(
      fc.property(
        instances,
        labels.filter((l) => Object.keys(l).length > 0),
        (list, selector) => {
          const picked = selectTargets(list, { labels: selector });
          const expected = list
            .filter((i) => i.status === "running")
            .filter((i) => Object.entries(selector).every(([k, v]) => i.labels?.[k] === v))
            .map((i) => i.instanceId)
            .sort();
          expect(picked.map((i) => i.instanceId)).toEqual(expected);
        },
      ),
    );
  });

  it("select by id the one instance with that id, whatever its status, and nothing else", () => {
    fc.assert(
      fc.property(instances, fc.constantFrom("i1", "i2", "nobody"), (list, id) => {
        const picked = selectTargets(list, { instanceId: id });
        expect(picked).toEqual(list.filter((i) => i.instanceId === id));
      }),
    );
  });

  it("need exactly one of an instance id and a non-empty label selector", () => {
    expect(code(() => validateTriggerTarget({}))).toBe(ErrorCode.INVALID_REQUEST);
    expect(code(() => validateTriggerTarget({ instanceId: "", labels: {} }))).toBe(ErrorCode.INVALID_REQUEST);
    expect(code(() => validateTriggerTarget({ instanceId: "a", labels: { app: "x" } }))).toBe(
      ErrorCode.INVALID_REQUEST,
    );
    expect(code(() => validateTriggerTarget({ instanceId: "no spaces" }))).toBe(ErrorCode.INVALID_REQUEST);
    expect(validateTriggerTarget({ instanceId: "a", labels: {} })).toEqual({ instanceId: "a" });
    expect(validateTriggerTarget({ labels: { app: "x" } })).toEqual({ labels: { app: "x" } });
  });

  it("parse k=v selectors, repeated or comma-separated", () => {
    expect(parseLabelSelector(["app=web", "tier=front,zone=a"])).toEqual({
      app: "web",
      tier: "front",
      zone: "a",
    });
    expect(code(() => parseLabelSelector("app"))).toBe(ErrorCode.INVALID_REQUEST);
    expect(code(() => parseLabelSelector("=x"))).toBe(ErrorCode.INVALID_REQUEST);
  });

  it("take names from the id alphabet only", () => {
    expect(TriggerName.parse("nightly-report.v2")).toBe("nightly-report.v2");
    for (const bad of ["", "a b", "a/b", "-x", "x".repeat(129), 7]) {
      expect(code(() => TriggerName.parse(bad))).toBe(ErrorCode.INVALID_REQUEST);
    }
  });
});

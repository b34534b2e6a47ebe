import { subjectCovers, subjectMatches } from "@wasmatrix/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { coverSubjects, subjectsOverlap } from "./subject-cover.js";

// Patterns over a tiny alphabet, so that overlaps are common; `z` never appears in a pattern and
// stands for "some other token" in the concrete subjects used as witnesses.
const token = fc.constantFrom("a", "b", "*");
const pattern = fc
  .tuple(fc.array(token, { minLength: 1, maxLength: 3 }), fc.boolean())
  .map(([tokens, tail]) => (tail ? [...tokens, ">"] : tokens).join("."));

function concreteSubjects(maxTokens: number): string[] {
  let level = ["a", "b", "z"];
  const all = [...level];
  for (let n = 2; n <= maxTokens; n++) {
    level = level.flatMap((s) => ["a", "b", "z"].map((t) => `${s}.${t}`));
    all.push(...level);
  }
  return all;
}
const WITNESSES = concreteSubjects(5);

describe("stream subjects", () => {
  it("says two patterns overlap exactly when some subject matches both", () => {
    fc.assert(
      fc.property(pattern, pattern, (a, b) => {
        const witness = WITNESSES.some((s) => subjectMatches(a, s) && subjectMatches(b, s));
        expect(subjectsOverlap(a, b)).toBe(witness);
      }),
      { numRuns: 500 },
    );
  });

  it("keeps a set of patterns that never overlap and covers every subscription", () => {
    fc.assert(
      fc.property(fc.array(pattern, { minLength: 1, maxLength: 8 }), (wanted) => {
        let set: string[] = [];
        for (const w of wanted) set = coverSubjects(set, w);
        for (const [i, a] of set.entries()) {
          for (const b of set.slice(i + 1)) expect(subjectsOverlap(a, b), `${a} / ${b}`).toBe(false);
        }
        for (const w of wanted)
          expect(
            set.some((s) => subjectCovers(s, w)),
            w,
          ).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it("leaves the set alone when a pattern is already covered", () => {
    expect(coverSubjects(["a.>"], "a.b.c")).toEqual(["a.>"]);
    expect(coverSubjects(["a.*.c"], "a.b.*")).toEqual(["a.*.*"]);
    expect(coverSubjects(["x.y", "a.b"], "a.>")).toEqual(["x.y", "a.>"]);
  });
});

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseSince } from "./logs.js";

describe("logs --since", () => {
  it("reads a duration as that long before now", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000 }), fc.constantFrom("ms", "s", "m", "h"), (n, unit) => {
        const factor = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[unit];
        expect(parseSince(`${n}${unit}`, 10 ** 13)).toBe(10 ** 13 - n * factor);
      }),
    );
  });

  it("reads a date and time as that instant", () => {
    expect(parseSince("2026-01-31T12:00:00Z")).toBe(Date.UTC(2026, 0, 31, 12));
  });

  it("refuses anything else, saying what it wants", () => {
    expect(() => parseSince("yesterday-ish")).toThrow(/duration back from now/);
  });
});

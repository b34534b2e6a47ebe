import { describe, expect, it } from "vitest";
import { parseSince } from "./audit.js";

describe("audit --since", () => {
  it("reads a duration as that long before now", () => {
    expect(parseSince("2h", 10_000_000)).toBe(10_000_000 - 7_200_000);
    expect(parseSince("90s", 100_000)).toBe(10_000);
  });

  it("reads an ISO time as that time", () => {
    expect(parseSince("2026-12-01T10:00:00Z")).toBe(Date.UTC(2026, 11, 1, 10));
  });

  it("refuses a date that is no time", () => {
    expect(() => parseSince("2026-13-45")).toThrow(/not a time/);
  });
});

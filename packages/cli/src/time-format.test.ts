import { describe, expect, it } from "vitest";
import { formatAge, formatAgo, formatBytes, formatElapsed, formatTimestamp } from "./time-format.js";

const s = 1_000;
const m = 60 * s;
const h = 60 * m;
const d = 24 * h;

describe("formatAge", () => {
  it.each([
    [0, "0s"],
    [999, "0s"],
    [42 * s, "42s"],
    [3 * m + 20 * s, "3m20s"],
    [5 * m, "5m"],
    [25 * m + 59 * s, "25m"],
    [2 * h + 5 * m, "2h5m"],
    [14 * h + 30 * m, "14h"],
    [3 * d + 4 * h, "3d4h"],
    [12 * d + 5 * h, "12d"],
  ])("shows %i ms as %s", (ms, text) => {
    expect(formatAge(ms)).toBe(text);
  });

  it("reads a negative age (clock skew between hosts) as zero", () => {
    expect(formatAge(-5 * s)).toBe("0s");
  });
});

describe("formatAgo", () => {
  it("says how long ago a time was", () => {
    expect(formatAgo(10 * s, 75 * s)).toBe("1m5s ago");
  });

  it("reads the protocol's zero timestamp as never", () => {
    expect(formatAgo(0, 75 * s)).toBe("never");
  });
});

describe("formatTimestamp", () => {
  it("prints UTC to the millisecond", () => {
    expect(formatTimestamp(Date.UTC(2025, 10, 25, 14, 56, 3, 123))).toBe("2025-11-25T14:56:03.123Z");
  });

  it("prints a dash for an unset time", () => {
    expect(formatTimestamp(0)).toBe("-");
  });
});

describe("formatElapsed", () => {
  it.each([
    [0.44, "0.4ms"],
    [12.4, "12ms"],
    [1_500, "1.5s"],
    [30_000, "30s"],
    [150_000, "2m30s"],
  ])("shows %d ms as %s", (ms, text) => {
    expect(formatElapsed(ms)).toBe(text);
  });
});

describe("formatBytes", () => {
  it.each([
    [100, "100B"],
    [1_536, "1.5KiB"],
    [256 * 1024 * 1024, "256MiB"],
    [1024 ** 3, "1GiB"],
  ])("shows %i bytes as %s", (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text);
  });
});

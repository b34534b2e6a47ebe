import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatDurationMs, parseDurationMs } from "./duration.js";
import { ErrorCode } from "./errors.js";
import { expectCode } from "./test-support/expect-code.js";

describe("durations", () => {
  it("round-trip: parse(format(ms)) equals ms for any whole number of milliseconds", () => {
    fc.assert(
      fc.property(fc.nat({ max: 2 ** 40 }), (ms) => {
        expect(parseDurationMs(formatDurationMs(ms))).toBe(ms);
      }),
      { numRuns: 200 },
    );
  });

  it("read the units the CLI accepts, a bare number being milliseconds", () => {
    expect(parseDurationMs("250")).toBe(250);
    expect(parseDurationMs("250ms")).toBe(250);
    expect(parseDurationMs("1.5s")).toBe(1500);
    expect(parseDurationMs("2m")).toBe(120_000);
    expect(parseDurationMs("2min")).toBe(120_000);
    expect(parseDurationMs("1h")).toBe(3_600_000);
    expect(formatDurationMs(90_000)).toBe("90s");
    expect(formatDurationMs(120_000)).toBe("2m");
  });

  it("refuse anything else with INVALID_REQUEST", () => {
    for (const bad of ["", "fast", "-1s", "1d", "1e3ms", "1 2s"]) {
      expectCode(() => parseDurationMs(bad), ErrorCode.INVALID_REQUEST);
    }
  });
});

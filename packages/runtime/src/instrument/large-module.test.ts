import { describe, expect, it } from "vitest";
import { instrument } from "./index.js";
import { body, moduleOf, uleb, validates, vec } from "./test-harness.js";

/**
 * A module of `functions` bodies of about 500 bytes each: a loop, straight-line arithmetic, a
 * call to another function and a memory.grow, so the scan and every kind of edit are exercised.
 */
function bigModule(functions: number): Uint8Array {
  const bodies: number[][] = [];
  for (let f = 0; f < functions; f++) {
    const code = [0x02, 0x40, 0x03, 0x40, 0x20, 0x00, 0x45, 0x0d, 0x01];
    for (let k = 0; k < 40; k++) code.push(0x20, 0x01, 0x41, ...uleb(12345 + k), 0x6a, 0x21, 0x01);
    code.push(0x20, 0x00, 0x10, ...uleb((f * 7919) % functions), 0x1a);
    code.push(0x41, 0x00, 0x40, 0x00, 0x1a);
    code.push(0x20, 0x00, 0x41, 0x01, 0x6b, 0x21, 0x00, 0x0c, 0x00, 0x0b, 0x0b, 0x20, 0x01, 0x0b);
    bodies.push(body(code, [[1, 0x7f]]));
  }
  return moduleOf(
    [1, vec([[0x60, 1, 0x7f, 1, 0x7f]])],
    [3, vec(Array.from({ length: functions }, () => [0]))],
    [5, vec([[0, 1]])],
    [7, vec([[4, 0x6d, 0x61, 0x69, 0x6e, 0, 0]])],
    [10, vec(bodies)],
  );
}

// How fast this goes is measured by `npm run bench -- runtime` ("instrument() alone"), not here.
describe("a 1 MB module", () => {
  it("is instrumented into a valid module, the same bytes every time, with a charge per function and loop", () => {
    const functions = 3000;
    const source = bigModule(functions);
    expect(source.length).toBeGreaterThan(1_000_000);
    expect(validates(source)).toBe(true);
    const first = instrument(source, { maxMemoryPages: 1024 });
    expect(validates(first.bytes)).toBe(true);
    // One loop per body: a charge at each function entry and each loop head.
    expect(first.info.meteredPoints).toBe(2 * functions);
    expect(first.info.functionCount).toBe(functions);
    expect(instrument(source, { maxMemoryPages: 1024 }).bytes).toEqual(first.bytes);
  });
});

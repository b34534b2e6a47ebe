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

describe("instrumentation speed", () => {
  it("instruments a 1 MB module in well under 100 ms", () => {
    const source = bigModule(3000);
    expect(source.length).toBeGreaterThan(1_000_000);
    expect(validates(source)).toBe(true);
    // First run warms up the JIT, as it would be in a long-running node agent.
    const output = instrument(source, { maxMemoryPages: 1024 }).bytes;
    expect(validates(output)).toBe(true);
    let best = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      instrument(source, { maxMemoryPages: 1024 });
      best = Math.min(best, performance.now() - started);
    }
    expect(best).toBeLessThan(100);
  });
});

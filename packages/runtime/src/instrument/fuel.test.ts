import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { wat } from "../test-support/wat.js";
import { instrument } from "./index.js";
import { FuelExhausted, instrumented, MeteredInstance } from "./test-harness.js";

// Instruction counts below are of the original code, as the cost model counts them.
const COUNTDOWN = `(module
  ;; function: loop + end = 2; loop: local.get, i32.const, i32.sub, local.tee, br_if, end = 6
  (func (export "countdown") (param i32)
    (loop $l (br_if $l (local.tee 0 (i32.sub (local.get 0) (i32.const 1))))))
  ;; function: i32.const, end = 2
  (func (export "two") (result i32) (i32.const 2))
  ;; function: call, end = 2, plus the callee's 2
  (func (export "callsTwo") (result i32) (call 1))
  (func (export "forever") (loop $l (br $l)))
  ;; outer loop: loop(inner), local.get, i32.const, i32.sub, local.tee, br_if, end = 7 per round;
  ;; inner loop: local.get, i32.eqz, br_if, end = 4 per round (runs once per outer round)
  (func (export "nested") (param i32)
    (loop $outer
      (loop $inner (br_if $inner (i32.eqz (local.get 0))))
      (br_if $outer (local.tee 0 (i32.sub (local.get 0) (i32.const 1))))))
)`;

describe("fuel", () => {
  let source: Uint8Array;
  let bytes: Uint8Array;
  beforeAll(async () => {
    source = await wat(COUNTDOWN);
    bytes = instrumented(source);
  });

  it("charges each function entry and loop iteration the instructions it owns", () => {
    const metered = new MeteredInstance(bytes);
    expect(metered.measure(() => metered.call("two")).fuel).toBe(2n);
    expect(metered.measure(() => metered.call("callsTwo")).fuel).toBe(4n);
    expect(metered.measure(() => metered.call("countdown", 1)).fuel).toBe(2n + 6n);
    expect(metered.measure(() => metered.call("countdown", 3)).fuel).toBe(2n + 6n * 3n);
    expect(metered.measure(() => metered.call("nested", 5)).fuel).toBe(2n + (7n + 4n) * 5n);
  });

  it("counts one charge site per defined function and per loop", () => {
    const { info } = instrument(source, { maxMemoryPages: 1 });
    expect(info.meteredPoints).toBe(5 + 4);
  });

  it("grows linearly with a loop's iterations and is identical across runs", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5000 }), (n) => {
        const a = new MeteredInstance(bytes);
        const b = new MeteredInstance(bytes);
        const first = a.measure(() => a.call("countdown", n)).fuel;
        const again = a.measure(() => a.call("countdown", n)).fuel;
        const elsewhere = b.measure(() => b.call("countdown", n)).fuel;
        expect(first).toBe(2n + 6n * BigInt(n));
        expect(again).toBe(first);
        expect(elsewhere).toBe(first);
      }),
      { numRuns: 100 },
    );
  });

  it("calls the fuel import when the counter goes negative, and the refill lets the guest go on", () => {
    const metered = new MeteredInstance(bytes, { budget: 10n, refill: 100n });
    metered.call("countdown", 1000);
    const used = 2n + 6n * 1000n;
    expect(metered.fuelUsed).toBe(used);
    // Each call happens on the first charge that takes the counter below zero.
    expect(metered.fuelCalls).toBeGreaterThanOrEqual(Number((used - 10n) / 100n));
    expect(metered.fuelCalls).toBeLessThanOrEqual(Number((used - 10n) / 100n) + 1);
  });

  it("does not call the fuel import while the counter stays at or above zero", () => {
    const metered = new MeteredInstance(bytes, { budget: 8n });
    metered.call("countdown", 1);
    expect(metered.fuelUsed).toBe(8n);
    expect(metered.fuelCalls).toBe(0);
  });

  it("stops an infinite loop when the fuel import throws", () => {
    const metered = new MeteredInstance(bytes, { budget: 1000n, refill: null });
    expect(() => metered.call("forever")).toThrow(FuelExhausted);
    expect(metered.fuelCalls).toBe(1);
  });

  it("calls the fuel import on every charge of a start function, before the global is bound", async () => {
    const source = await wat(`(module
      (global $n (mut i32) (i32.const 0))
      (func $start (loop $l (global.set $n (i32.add (global.get $n) (i32.const 1)))
        (br_if $l (i32.lt_u (global.get $n) (i32.const 5)))))
      (start $start)
      (func (export "n") (result i32) (global.get $n)))`);
    const metered = new MeteredInstance(instrumented(source));
    // One charge at the start function's entry, one per iteration of its loop.
    expect(metered.fuelCalls).toBe(1 + 5);
    expect(metered.call("n")).toBe(5);
  });
});

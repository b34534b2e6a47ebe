import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FUEL_CHUNK, FuelMeter, FuelTrap } from "./fuel.js";

/** What instrumented code does between refills: it counts the global down. */
function burn(global: WebAssembly.Global, units: number): void {
  global.value = BigInt(global.value) - BigInt(units);
}

describe("FuelMeter", () => {
  it("reports the fuel burnt before a timeout seen between refills (in a sleep or a host call)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: FUEL_CHUNK - 1 }), async (units) => {
        const meter = new FuelMeter();
        const global = new WebAssembly.Global({ value: "i64", mutable: true }, 0n);
        meter.bind(global);
        meter.begin(10 * FUEL_CHUNK, 1);
        burn(global, units);
        await new Promise((resolve) => setTimeout(resolve, 3));
        expect(() => meter.checkDeadline()).toThrow(FuelTrap);
        expect(meter.end()).toBe(units);
      }),
      { numRuns: 20 },
    );
  });

  it("reports every chunk refilled plus what was burnt of the last one", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: FUEL_CHUNK }), (chunks, rest) => {
        const meter = new FuelMeter();
        const global = new WebAssembly.Global({ value: "i64", mutable: true }, 0n);
        meter.bind(global);
        meter.begin(100 * FUEL_CHUNK, null);
        for (let i = 0; i < chunks; i++) {
          burn(global, FUEL_CHUNK + 1);
          meter.onFuel();
        }
        burn(global, rest);
        expect(meter.end()).toBe(chunks * (FUEL_CHUNK + 1) + rest);
      }),
    );
  });
});

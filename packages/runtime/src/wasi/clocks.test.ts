import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ClockId, WasiErrno } from "./index.js";
import { type Probe, probe } from "./probe.fixture.js";

const silent = { write() {} };

function read(p: Probe, clockId: number): bigint {
  expect(p.call["clock_time_get"]!(clockId, 1n, 8)).toBe(WasiErrno.SUCCESS);
  return p.view().getBigUint64(8, true);
}

describe("WASI clocks", () => {
  it("never run backwards on the monotonic clock", async () => {
    const p = await probe({ args: [], env: {}, stdout: silent, stderr: silent });
    let previous = read(p, ClockId.MONOTONIC);
    for (let i = 0; i < 2000; i++) {
      const now = read(p, ClockId.MONOTONIC);
      expect(now).toBeGreaterThanOrEqual(previous);
      previous = now;
    }
  });

  it("read realtime within a few milliseconds of Date.now()", async () => {
    const p = await probe({ args: [], env: {}, stdout: silent, stderr: silent });
    for (let i = 0; i < 20; i++) {
      const before = BigInt(Date.now()) * 1_000_000n;
      const now = read(p, ClockId.REALTIME);
      const after = BigInt(Date.now() + 1) * 1_000_000n;
      expect(now).toBeGreaterThanOrEqual(before - 10_000_000n);
      expect(now).toBeLessThanOrEqual(after + 10_000_000n);
    }
  });

  it("serve the CPU-time clocks from the monotonic clock and write the full u64", async () => {
    await fc.assert(
      fc.asyncProperty(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), async (t) => {
        const p = await probe({
          args: [],
          env: {},
          stdout: silent,
          stderr: silent,
          now: () => t ^ 1n,
          monotonic: () => t,
        });
        expect(read(p, ClockId.MONOTONIC)).toBe(t);
        expect(read(p, ClockId.PROCESS_CPUTIME)).toBe(t);
        expect(read(p, ClockId.THREAD_CPUTIME)).toBe(t);
        expect(read(p, ClockId.REALTIME)).toBe(t ^ 1n);
      }),
      { numRuns: 100 },
    );
  });

  it("answer INVAL for an unknown clock and FAULT for a pointer past memory", async () => {
    const p = await probe({ args: [], env: {}, stdout: silent, stderr: silent });
    expect(p.call["clock_time_get"]!(4, 0n, 8)).toBe(WasiErrno.INVAL);
    expect(p.call["clock_time_get"]!(-1, 0n, 8)).toBe(WasiErrno.INVAL);
    expect(p.call["clock_res_get"]!(4, 8)).toBe(WasiErrno.INVAL);
    expect(p.call["clock_time_get"]!(1, 0n, p.memory.buffer.byteLength - 4)).toBe(WasiErrno.FAULT);
    expect(p.call["clock_res_get"]!(0, -4)).toBe(WasiErrno.FAULT);
  });

  it("report a resolution of one microsecond for every clock", async () => {
    const p = await probe({ args: [], env: {}, stdout: silent, stderr: silent });
    for (const id of Object.values(ClockId)) {
      expect(p.call["clock_res_get"]!(id, 16)).toBe(WasiErrno.SUCCESS);
      expect(p.view().getBigUint64(16, true)).toBe(1000n);
    }
  });
});

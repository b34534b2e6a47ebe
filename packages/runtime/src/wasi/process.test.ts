import { describe, expect, it } from "vitest";
import { createWasi, WasiErrno, WasiExit } from "./index.js";
import { probe } from "./probe.fixture.js";

const silent = { write() {} };

describe("WASI process calls", () => {
  it.each([
    [0, 0],
    [3, 3],
    [-1, 4_294_967_295],
  ])("proc_exit(%i) throws WasiExit with code %i", async (code, expected) => {
    const p = await probe({ args: [], env: {}, stdout: silent, stderr: silent });
    let thrown: unknown;
    try {
      p.call["proc_exit"]!(code);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(WasiExit);
    expect((thrown as WasiExit).code).toBe(expected);
  });

  it("sched_yield calls onYield and lets what it throws propagate", async () => {
    let yields = 0;
    const p = await probe({
      args: [],
      env: {},
      stdout: silent,
      stderr: silent,
      onYield: () => {
        yields++;
        if (yields === 2) throw new Error("deadline passed");
      },
    });
    expect(p.call["sched_yield"]!()).toBe(WasiErrno.SUCCESS);
    expect(() => p.call["sched_yield"]!()).toThrow("deadline passed");
    expect(yields).toBe(2);
  });

  it("random_get fills exactly the requested bytes through randomFill", async () => {
    const p = await probe({
      args: [],
      env: {},
      stdout: silent,
      stderr: silent,
      randomFill: (buf) => buf.fill(0x5a),
    });
    expect(p.call["random_get"]!(100, 10)).toBe(WasiErrno.SUCCESS);
    expect([...p.bytes().subarray(99, 111)]).toEqual([0, ...Array(10).fill(0x5a), 0]);
    expect(p.call["random_get"]!(p.memory.buffer.byteLength - 4, 5)).toBe(WasiErrno.FAULT);
  });

  it("random_get by default fills buffers larger than one getRandomValues call", async () => {
    const p = await probe({ args: [], env: {}, stdout: silent, stderr: silent });
    expect(p.grow(3)).toBe(1);
    const length = 200_000;
    expect(p.call["random_get"]!(0, length)).toBe(WasiErrno.SUCCESS);
    const bytes = p.bytes();
    // Each 64 KiB chunk is filled: the chance of 1000 zero bytes in a row is nil.
    for (const start of [0, 70_000, 140_000, length - 1000]) {
      expect(bytes.subarray(start, start + 1000).some((b) => b !== 0)).toBe(true);
    }
    expect(bytes.subarray(length, length + 1000).every((b) => b === 0)).toBe(true);
  });

  it("random_get fills shared memory too", () => {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    const wasi = createWasi({ args: [], env: {}, stdout: silent, stderr: silent, getMemory: () => memory });
    expect(wasi.imports.random_get(16, 4096)).toBe(WasiErrno.SUCCESS);
    expect(new Uint8Array(memory.buffer, 16, 4096).some((b) => b !== 0)).toBe(true);
  });

  it("calls that need no memory work in a module without one", () => {
    const wasi = createWasi({
      args: [],
      env: {},
      stdout: silent,
      stderr: silent,
      getMemory: () => {
        throw new Error("no memory");
      },
    });
    expect(wasi.imports.sched_yield()).toBe(WasiErrno.SUCCESS);
    expect(wasi.imports.fd_close(2)).toBe(WasiErrno.SUCCESS);
    expect(() => wasi.imports.proc_exit(1)).toThrow(WasiExit);
    expect(() => wasi.imports.fd_write(1, 0, 0, 0)).toThrow("no memory");
  });
});

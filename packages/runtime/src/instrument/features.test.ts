import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { wat } from "../test-support/wat.js";
import { instrument } from "./index.js";
import { ATOMICS, BULK, EXCEPTIONS, NUMERIC, SIMD, TAIL } from "./test-fixtures.js";
import { compileModule, instrumented, MeteredInstance, validates, watWith } from "./test-harness.js";

function sameResults(
  source: Uint8Array,
  calls: [string, unknown[]][],
  imports: WebAssembly.Imports = {},
): void {
  expect(validates(source)).toBe(true);
  const output = instrumented(source);
  expect(validates(output)).toBe(true);
  const original = new WebAssembly.Instance(compileModule(source), imports).exports;
  const metered = new MeteredInstance(output, { imports });
  for (const [name, args] of calls) {
    const expected = (original[name] as (...a: unknown[]) => unknown)(...args);
    expect(metered.call(name, ...args), `${name}(${args.join(", ")})`).toEqual(expected);
  }
}

describe("instrumented modules that use post-MVP features", () => {
  it("SIMD: loads, stores, lanes, shuffles and v128 constants survive", async () => {
    sameResults(await wat(SIMD), [
      ["dot", []],
      ["allTrue", []],
    ]);
  });

  it("bulk memory and reference types: memory and table operations survive", async () => {
    sameResults(await wat(BULK), [["run", []]]);
  });

  it("tail calls: return_call and return_call_indirect keep constant stack depth", async () => {
    sameResults(await wat(TAIL), [
      ["sum", [10n]],
      ["sum", [1_000_000n]],
    ]);
  });

  it("legacy exception handling: try, catch, catch_all, throw, rethrow and delegate survive", async () => {
    sameResults(await wat(EXCEPTIONS), [
      ["catchIt", [5]],
      ["rethrown", [5]],
      ["delegated", []],
      ["loopy", [4]],
    ]);
  });

  it("threads: atomics and shared memory survive", async () => {
    sameResults(await watWith(ATOMICS, { features: { threads: true } }), [["run", []]]);
  });

  it("sign extension, saturating truncation, multi-value and typed blocks survive", async () => {
    sameResults(await wat(NUMERIC), [
      ["signExt", [0xff]],
      ["satTrunc", [1e20]],
      ["wide", []],
      ["pair", []],
      ["blocks", [4]],
      ["loopParams", [5]],
      ["externs", [null]],
      ["externs", [{}]],
    ]);
  });

  const clang = "/usr/bin/clang";
  it.skipIf(!existsSync(clang) || !existsSync("/usr/bin/wasm-ld"))(
    "a C module compiled by clang for wasm32-wasi is instrumented and computes the same",
    () => {
      const dir = mkdtempSync(join(tmpdir(), "instrument-clang-"));
      writeFileSync(
        join(dir, "guest.c"),
        `static unsigned table[256];
         __attribute__((noinline)) static unsigned crc_byte(unsigned c) {
           for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
           return c;
         }
         typedef unsigned (*op)(unsigned);
         static unsigned twice(unsigned x) { return 2 * x; }
         static unsigned thrice(unsigned x) { return 3 * x; }
         volatile op ops[2] = { twice, thrice };
         unsigned crc(unsigned n) {
           for (unsigned i = 0; i < 256; i++) table[i] = crc_byte(i);
           unsigned c = 0xffffffffu;
           for (unsigned i = 0; i < n; i++) c = table[(c ^ i) & 0xff] ^ (c >> 8);
           return ~c;
         }
         unsigned dispatch(unsigned which, unsigned x) { return ops[which & 1](x); }
         unsigned grow(unsigned pages) { return __builtin_wasm_memory_grow(0, pages); }`,
      );
      const out = join(dir, "guest.wasm");
      execFileSync(clang, [
        "--target=wasm32-wasi",
        "-O2",
        "-nostdlib",
        "-Wl,--no-entry",
        "-Wl,--export=crc",
        "-Wl,--export=dispatch",
        "-Wl,--export=grow",
        "-o",
        out,
        join(dir, "guest.c"),
      ]);
      const source = new Uint8Array(readFileSync(out));
      const { info } = instrument(source, { maxMemoryPages: 64 });
      expect(info.memory?.imported).toBe(false);
      sameResults(source, [
        ["crc", [1000]],
        ["dispatch", [0, 21]],
        ["dispatch", [1, 21]],
        ["grow", [1]],
      ]);
    },
  );
});

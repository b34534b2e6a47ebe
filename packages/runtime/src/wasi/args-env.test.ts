import { WasmatrixError } from "@wasmatrix/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { OutputRing } from "../output/index.js";
import { wat } from "../test-support/wat.js";
import { createWasi, WasiErrno, WasiExit } from "./index.js";
import { type Probe, probe } from "./probe.fixture.js";

/**
 * A command that reads its args and environment the way libc does and prints each string on a
 * line of its own, then exits with 7. Layout: 0 count, 4 buffer size, 8 two iovecs, 24 nwritten,
 * 32 "\n", 64 pointer array, 2048 string buffer.
 */
const PRINTER_WAT = `(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $environ_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 32) "\\n")
  (func $strlen (param $p i32) (result i32) (local $n i32)
    (block $done (loop $next
      (br_if $done (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $n)))))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $next)))
    (local.get $n))
  (func $print_table (local $i i32) (local $p i32)
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (i32.load (i32.const 0))))
      (local.set $p (i32.load (i32.add (i32.const 64) (i32.shl (local.get $i) (i32.const 2)))))
      (i32.store (i32.const 8) (local.get $p))
      (i32.store (i32.const 12) (call $strlen (local.get $p)))
      (i32.store (i32.const 16) (i32.const 32))
      (i32.store (i32.const 20) (i32.const 1))
      (drop (call $fd_write (i32.const 1) (i32.const 8) (i32.const 2) (i32.const 24)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next))))
  (func (export "_start")
    (drop (call $args_sizes_get (i32.const 0) (i32.const 4)))
    (drop (call $args_get (i32.const 64) (i32.const 2048)))
    (call $print_table)
    (drop (call $environ_sizes_get (i32.const 0) (i32.const 4)))
    (drop (call $environ_get (i32.const 64) (i32.const 2048)))
    (call $print_table)
    (call $proc_exit (i32.const 7))))`;

const POINTERS = 1024;
const BUFFER = 4096;
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const silent = { write() {} };

/** Reads a preview1 string table back the way a C program would, and checks its packing. */
function readTable(p: Probe, sizes: "args_sizes_get" | "environ_sizes_get", get: "args_get" | "environ_get") {
  expect(p.call[sizes]!(0, 4)).toBe(WasiErrno.SUCCESS);
  expect(p.call[get]!(POINTERS, BUFFER)).toBe(WasiErrno.SUCCESS);
  const view = p.view();
  const count = view.getUint32(0, true);
  const size = view.getUint32(4, true);
  const bytes = p.bytes();
  const strings: string[] = [];
  let expectedStart = BUFFER;
  for (let i = 0; i < count; i++) {
    const start = view.getUint32(POINTERS + i * 4, true);
    expect(start).toBe(expectedStart);
    const end = bytes.indexOf(0, start);
    strings.push(decoder.decode(bytes.subarray(start, end)));
    expectedStart = end + 1;
  }
  expect(expectedStart - BUFFER).toBe(size);
  return strings;
}

describe("WASI args and environment", () => {
  it("are laid out as libc expects: a guest walks the pointers and prints every string", async () => {
    const stdout = new OutputRing(4096);
    let memory: WebAssembly.Memory | undefined;
    const wasi = createWasi({
      args: ["prog", "two words", "ünï😀"],
      env: { HOME: "/nowhere", EMPTY: "", EQ: "a=b" },
      stdout,
      stderr: silent,
      getMemory: () => memory!,
    });
    const module = await WebAssembly.compile(new Uint8Array(await wat(PRINTER_WAT)));
    const instance = await WebAssembly.instantiate(module, { wasi_snapshot_preview1: wasi.imports });
    memory = instance.exports["memory"] as WebAssembly.Memory;
    const start = instance.exports["_start"] as () => void;
    let exit: unknown;
    try {
      start();
    } catch (error) {
      exit = error;
    }
    expect(exit).toBeInstanceOf(WasiExit);
    expect((exit as WasiExit).code).toBe(7);
    expect(stdout.text()).toBe("prog\ntwo words\nünï😀\nHOME=/nowhere\nEMPTY=\nEQ=a=b\n");
  });

  it("round-trip any unicode args and environment exactly", async () => {
    const text = fc.oneof(
      fc.string({ unit: "binary", maxLength: 12 }),
      fc.string({ unit: "grapheme", maxLength: 8 }),
    );
    const noNul = text.filter((s) => !s.includes("\0"));
    const name = noNul.filter((s) => s.length > 0 && !s.includes("="));
    await fc.assert(
      fc.asyncProperty(
        fc.array(noNul, { maxLength: 12 }),
        fc.dictionary(name, noNul, { maxKeys: 12 }),
        async (args, env) => {
          const p = await probe({ args, env, stdout: silent, stderr: silent });
          expect(readTable(p, "args_sizes_get", "args_get")).toEqual(args);
          expect(readTable(p, "environ_sizes_get", "environ_get")).toEqual(
            Object.entries(env).map(([k, v]) => `${k}=${v}`),
          );
          const bytes = p.bytes();
          const size = p.view().getUint32(4, true);
          const expected = Buffer.concat(Object.entries(env).map(([k, v]) => encoder.encode(`${k}=${v}\0`)));
          expect(Buffer.compare(bytes.subarray(BUFFER, BUFFER + size), expected)).toBe(0);
        },
      ),
      { numRuns: 150 },
    );
  });

  it("report zero strings in an empty buffer when there are none", async () => {
    const p = await probe({ args: [], env: {}, stdout: silent, stderr: silent });
    p.view().setUint32(0, 99, true);
    p.view().setUint32(4, 99, true);
    expect(readTable(p, "args_sizes_get", "args_get")).toEqual([]);
    expect(p.view().getUint32(4, true)).toBe(0);
  });

  it("return FAULT and write nothing when a pointer or the buffer lies past memory", async () => {
    const p = await probe({ args: ["a", "bcd"], env: { K: "V" }, stdout: silent, stderr: silent });
    const end = p.memory.buffer.byteLength;
    const before = p.bytes().slice();
    expect(p.call["args_get"]!(end - 4, BUFFER)).toBe(WasiErrno.FAULT);
    expect(p.call["args_get"]!(POINTERS, end - 3)).toBe(WasiErrno.FAULT);
    expect(p.call["environ_get"]!(POINTERS, 0xffff_fff0)).toBe(WasiErrno.FAULT);
    expect(p.call["args_sizes_get"]!(end - 2, 0)).toBe(WasiErrno.FAULT);
    expect(p.call["environ_sizes_get"]!(0, -1)).toBe(WasiErrno.FAULT);
    expect(Buffer.compare(p.bytes(), before)).toBe(0);
  });

  it.each([
    [{ args: ["nul\0inside"], env: {} }],
    [{ args: [], env: { "A=B": "x" } }],
    [{ args: [], env: { "": "x" } }],
    [{ args: [], env: { K: "nul\0" } }],
  ])("refuse args and environment that a C program cannot receive intact: %j", (input) => {
    expect(() =>
      createWasi({
        ...input,
        stdout: silent,
        stderr: silent,
        getMemory: () => new WebAssembly.Memory({ initial: 1 }),
      }),
    ).toThrow(WasmatrixError);
  });
});

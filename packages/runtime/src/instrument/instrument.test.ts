import { describe, expect, it } from "vitest";
import { wat } from "../test-support/wat.js";
import { FUEL_GLOBAL_EXPORT, FUEL_IMPORT, GROW_IMPORT, instrument, MEMORY_EXPORT } from "./index.js";
import { ARITHMETIC, INDEXES } from "./test-fixtures.js";
import {
  body,
  compileModule,
  instrumented,
  MeteredInstance,
  moduleOf,
  validates,
  vec,
  watWith,
} from "./test-harness.js";

const envImports = { env: { base: () => 100, offset: new WebAssembly.Global({ value: "i32" }, 1) } };

function plain(bytes: Uint8Array, imports: WebAssembly.Imports = {}): WebAssembly.Exports {
  return new WebAssembly.Instance(compileModule(bytes), imports).exports;
}

function call(exports: WebAssembly.Exports, name: string, ...args: unknown[]): unknown {
  return (exports[name] as (...a: unknown[]) => unknown)(...args);
}

describe("instrument", () => {
  it("produces a valid module that computes the same results as the original", async () => {
    const source = await wat(ARITHMETIC);
    const output = instrumented(source);
    expect(validates(output)).toBe(true);
    const original = plain(source);
    const metered = new MeteredInstance(output);
    const cases: [string, unknown[]][] = [
      ["fact", [0n]],
      ["fact", [20n]],
      ["sum", [0]],
      ["sum", [1000]],
      ["nested", [17]],
      ["classify", [0]],
      ["classify", [1]],
      ["classify", [7]],
      ["divmod", [17, 5]],
      ["collatz", [27n]],
    ];
    for (const [name, args] of cases) {
      expect(metered.call(name, ...args), `${name}(${args.join(", ")})`).toEqual(
        call(original, name, ...args),
      );
    }
  });

  it("adds the fuel and memory_grow imports last, and the fuel global and memory exports", async () => {
    const source = await wat(
      `(module (import "env" "f" (func)) (memory (export "mem") 1) (func (export "run")))`,
    );
    const module = compileModule(instrumented(source));
    expect(WebAssembly.Module.imports(module)).toEqual([
      { module: "env", name: "f", kind: "function" },
      { module: FUEL_IMPORT.module, name: FUEL_IMPORT.name, kind: "function" },
      { module: GROW_IMPORT.module, name: GROW_IMPORT.name, kind: "function" },
    ]);
    expect(WebAssembly.Module.exports(module)).toEqual([
      { name: "mem", kind: "memory" },
      { name: "run", kind: "function" },
      { name: MEMORY_EXPORT, kind: "memory" },
      { name: FUEL_GLOBAL_EXPORT, kind: "global" },
    ]);
    const instance = new MeteredInstance(instrumented(source), { imports: { env: { f: () => {} } } });
    expect(instance.exports[MEMORY_EXPORT]).toBe(instance.exports["mem"]);
  });

  it("instruments a module with no sections at all", () => {
    const empty = Uint8Array.of(0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00);
    const { bytes, info } = instrument(empty, { maxMemoryPages: 1 });
    expect(validates(bytes)).toBe(true);
    expect(info).toEqual({
      imports: [],
      exports: [],
      memory: null,
      functionCount: 0,
      meteredPoints: 0,
      hasStart: false,
    });
    const exports = WebAssembly.Module.exports(compileModule(bytes));
    expect(exports).toEqual([{ name: FUEL_GLOBAL_EXPORT, kind: "global" }]);
  });

  it("reuses existing function types instead of adding duplicates", async () => {
    const source = await wat(`(module
      (type (func (param i32) (result i32)))
      (type (func))
      (func (type 1)))`);
    const output = instrumented(source);
    // Types are the first section; its count is the byte after id and size.
    expect(output[8]).toBe(1);
    expect(output[10]).toBe(2);
    const appended = instrumented(await wat(`(module (func (param i64)))`));
    expect(appended[10]).toBe(3);
    expect(validates(output) && validates(appended)).toBe(true);
  });

  it("reports the original imports and exports, the function count and the start function", async () => {
    const { info } = instrument(await wat(INDEXES), { maxMemoryPages: 16 });
    expect(info.imports).toEqual([
      { module: "env", name: "base", kind: "func" },
      { module: "env", name: "offset", kind: "global" },
    ]);
    expect(info.exports.map((e) => `${e.kind}:${e.name}`)).toEqual([
      "func:indirect",
      "func:indirect2",
      "func:initPassive",
      "func:initPassiveExprs",
      "func:viaGlobal",
      "func:viaRefFunc",
      "func:tail",
      "func:tailIndirect",
      "func:started",
      "func:direct",
      "func:three",
      "func:base",
      "table:table",
    ]);
    expect(info.functionCount).toBe(19);
    expect(info.meteredPoints).toBe(19);
    expect(info.hasStart).toBe(true);
    expect(info.memory).toBeNull();
  });

  describe("function indices", () => {
    it("move past the two new imports everywhere they appear, and imported ones stay", async () => {
      const source = await wat(INDEXES);
      const output = instrumented(source);
      expect(validates(output)).toBe(true);
      const original = plain(source, envImports);
      const metered = new MeteredInstance(output, { imports: envImports });
      call(original, "initPassive");
      metered.call("initPassive");
      call(original, "initPassiveExprs");
      metered.call("initPassiveExprs");
      const probes: [string, unknown[]][] = [
        ["started", []],
        ["direct", []],
        ["three", []],
        ["base", []],
        ["viaGlobal", []],
        ["viaRefFunc", []],
        ["tail", []],
        ...[0, 1, 2, 4, 5, 6, 7, 8].map((i): [string, unknown[]] => ["indirect", [i]]),
        ...[1, 2].map((i): [string, unknown[]] => ["indirect2", [i]]),
        ...[0, 4, 6].map((i): [string, unknown[]] => ["tailIndirect", [i]]),
      ];
      for (const [name, args] of probes) {
        expect(metered.call(name, ...args), `${name}(${args.join(", ")})`).toBe(
          call(original, name, ...args),
        );
      }
      expect(metered.call("started")).toBe(102);
      expect(metered.call("indirect", 1)).toBe(2);
      expect(metered.call("indirect2", 1)).toBe(3);
      expect(metered.call("indirect2", 2)).toBe(8);
      expect(metered.call("indirect", 7)).toBe(5);
      expect(metered.call("indirect", 8)).toBe(6);
      expect(() => metered.call("indirect2", 0)).toThrow(WebAssembly.RuntimeError);
    });

    it("leave an exported table's entries pointing at the same functions", async () => {
      const source = await wat(INDEXES);
      const original = plain(source, envImports).table as WebAssembly.Table;
      const metered = new MeteredInstance(instrumented(source), { imports: envImports });
      const table = metered.exports.table as WebAssembly.Table;
      for (const i of [0, 1, 2, 4, 5]) {
        expect((table.get(i) as () => number)()).toBe((original.get(i) as () => number)());
      }
    });
  });

  describe("memory.grow", () => {
    const GROWER = `(module (memory 1 10)
      (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
      (func (export "size") (result i32) (memory.size)))`;

    it("is routed through the memory_grow import", async () => {
      const metered = new MeteredInstance(instrumented(await wat(GROWER)));
      expect(metered.call("grow", 2)).toBe(1);
      expect(metered.call("size")).toBe(3);
      expect(metered.growCalls).toEqual([2]);
    });

    it("returns what the import answers, so a refusal reads as -1 in the guest", async () => {
      const metered = new MeteredInstance(instrumented(await wat(GROWER)), { grow: () => -1 });
      expect(metered.call("grow", 1)).toBe(-1);
      expect(metered.call("size")).toBe(1);
      expect(metered.growCalls).toEqual([1]);
    });

    it("passes the delta through unsigned, as memory.grow's operand is", async () => {
      const metered = new MeteredInstance(instrumented(await wat(GROWER)));
      expect(metered.call("grow", -1)).toBe(-1);
      expect(metered.growCalls.map((d) => d >>> 0)).toEqual([0xffffffff]);
    });
  });

  describe("memory 0", () => {
    async function memoryInfo(decl: string, cap: number) {
      const source = await wat(`(module ${decl})`);
      const result = instrument(source, { maxMemoryPages: cap });
      expect(validates(result.bytes)).toBe(true);
      return result;
    }

    it("gets the runtime's ceiling as its maximum when it declares none", async () => {
      const { info, bytes } = await memoryInfo("(memory 2)", 16);
      expect(info.memory).toEqual({ imported: false, minPages: 2, maxPages: 16, declaredMaxPages: null });
      const memory = new MeteredInstance(bytes).memory!;
      expect(memory.grow(14)).toBe(2);
      expect(() => memory.grow(1)).toThrow(RangeError);
    });

    it("keeps a declared maximum below the ceiling and lowers one above it", async () => {
      expect((await memoryInfo("(memory 1 4)", 16)).info.memory).toEqual({
        imported: false,
        minPages: 1,
        maxPages: 4,
        declaredMaxPages: 4,
      });
      expect((await memoryInfo("(memory 1 1000)", 16)).info.memory?.maxPages).toBe(16);
    });

    it("never sets a maximum below the minimum", async () => {
      expect((await memoryInfo("(memory 20)", 16)).info.memory?.maxPages).toBe(20);
      expect((await memoryInfo("(memory 20 30)", 16)).info.memory?.maxPages).toBe(20);
    });

    it("keeps the shared flag of a shared memory", async () => {
      const source = await watWith(`(module (memory 1 8 shared))`, { features: { threads: true } });
      const { bytes, info } = instrument(source, { maxMemoryPages: 4 });
      expect(info.memory).toEqual({ imported: false, minPages: 1, maxPages: 4, declaredMaxPages: 8 });
      const memory = new MeteredInstance(bytes).memory!;
      expect(memory.buffer).toBeInstanceOf(SharedArrayBuffer);
    });

    it("is left alone and not exported again when it is imported", async () => {
      const source = await wat(`(module (import "env" "memory" (memory 1 1000)) (func (export "run")))`);
      const { bytes, info } = instrument(source, { maxMemoryPages: 16 });
      expect(info.memory).toEqual({ imported: true, minPages: 1, maxPages: 1000, declaredMaxPages: 1000 });
      const exports = WebAssembly.Module.exports(compileModule(bytes));
      expect(exports.map((e) => e.name)).toEqual(["run", FUEL_GLOBAL_EXPORT]);
      const memory = new WebAssembly.Memory({ initial: 1, maximum: 1000 });
      expect(() => new MeteredInstance(bytes, { imports: { env: { memory } } })).not.toThrow();
    });
  });

  describe("name section", () => {
    const NAMED = `(module $named
      (import "env" "hook" (func $hook))
      (func $inner (param $depth i32) (call $hook) unreachable)
      (func $middle (call $inner (i32.const 1)))
      (func $outer (export "outer") (call $middle)))`;

    it("still names the right functions in a trap's stack trace", async () => {
      const output = instrumented(await watWith(NAMED, { names: true }));
      const metered = new MeteredInstance(output, { imports: { env: { hook: () => {} } } });
      let stack = "";
      try {
        metered.call("outer");
      } catch (error) {
        stack = (error as Error).stack ?? "";
      }
      // V8 names wasm frames from the name section, by function index, and the module by its name.
      const frames = [...stack.matchAll(/at (\S+) \(wasm:\/\/wasm\/(\w+)-/g)].map((m) => `${m[2]}.${m[1]}`);
      expect(frames).toEqual(["named.inner", "named.middle", "named.outer"]);
    });

    it("keeps the module name and the function and local names, and drops other subsections", async () => {
      const output = instrumented(await watWith(NAMED, { names: true }));
      const [section] = WebAssembly.Module.customSections(compileModule(output), "name");
      const bytes = new Uint8Array(section!);
      const ids: number[] = [];
      for (let at = 0; at < bytes.length; ) {
        ids.push(bytes[at]!);
        let size = 0;
        let shift = 0;
        let byte: number;
        at++;
        do {
          byte = bytes[at++]!;
          size |= (byte & 0x7f) << shift;
          shift += 7;
        } while (byte & 0x80);
        at += size;
      }
      expect(ids).toEqual([0, 1, 2]);
      expect(new TextDecoder().decode(bytes)).toContain("depth");
    });

    it("is dropped whole when it does not parse, and other custom sections are kept verbatim", async () => {
      const source = await wat(`(module (func (export "f")))`);
      const custom = (name: string, payload: number[]) => {
        const nameBytes = [...new TextEncoder().encode(name)];
        const content = [nameBytes.length, ...nameBytes, ...payload];
        return [0, content.length, ...content];
      };
      const withCustom = Uint8Array.from([
        ...source,
        ...custom("name", [1, 5, 0xff, 0xff]),
        ...custom("producers", [1, 2, 3, 4]),
      ]);
      expect(validates(withCustom)).toBe(true);
      const module = compileModule(instrumented(withCustom));
      expect(WebAssembly.Module.customSections(module, "name")).toHaveLength(0);
      const [producers] = WebAssembly.Module.customSections(module, "producers");
      expect([...new Uint8Array(producers!)]).toEqual([1, 2, 3, 4]);
    });
  });

  it("is deterministic: the same input gives the same bytes", async () => {
    const source = await wat(INDEXES);
    expect(instrumented(source)).toEqual(instrumented(source));
  });

  it("copies function locals, data and the data count section exactly", async () => {
    const source = await wat(`(module (memory 1)
      (data (i32.const 8) "hello, instrumented world")
      (data $p "passive")
      (func (export "f") (result i32) (local i32 i32 i64 f32 v128 externref)
        (memory.init $p (i32.const 100) (i32.const 0) (i32.const 7))
        (data.drop $p)
        (i32.load8_u (i32.const 104))))`);
    const output = instrumented(source);
    const text = new TextDecoder().decode(output);
    expect(text).toContain("hello, instrumented world");
    const metered = new MeteredInstance(output);
    expect(metered.call("f")).toBe("i".charCodeAt(0));
    const memory = new Uint8Array(metered.memory!.buffer);
    expect(new TextDecoder().decode(memory.subarray(8, 33))).toBe("hello, instrumented world");
  });

  it("inserts exactly the documented charge sequence at a function's entry", () => {
    // (module (func)): one type, one function, body `end` (cost 1).
    const source = moduleOf([1, vec([[0x60, 0, 0]])], [3, vec([[0]])], [10, vec([body([0x0b])])]);
    const output = instrument(source, { maxMemoryPages: 1 }).bytes;
    const fuelGlobal = 0;
    const fuelImport = 0;
    const charge = [
      ...[0x23, fuelGlobal, 0x42, 1, 0x7d, 0x24, fuelGlobal],
      ...[0x23, fuelGlobal, 0x42, 0, 0x53, 0x04, 0x40, 0x10, fuelImport, 0x0b],
    ];
    const expected = body([...charge, 0x0b]);
    expect(indexOf(output, expected)).toBeGreaterThan(0);
  });

  it("copies padded LEBs and other bytes it does not rewrite exactly as they were", () => {
    const locals = [1, 0x82, 0x80, 0x00, 0x7f]; // two i32 locals, count padded to 3 bytes
    const code = [0x41, 0x81, 0x80, 0x80, 0x00, 0x1a, 0x0b]; // i32.const 1 padded to 4 bytes; drop
    const content = [...locals, ...code];
    const data = [0x00, 0x41, 0x00, 0x0b, 0x83, 0x80, 0x00, 0x61, 0x62, 0x63]; // length 3, padded
    const source = moduleOf(
      [1, vec([[0x60, 0, 0]])],
      [3, vec([[0]])],
      [5, vec([[0, 1]])],
      [12, [1]],
      [10, [1, content.length, ...content]],
      [11, [1, ...data]],
    );
    expect(validates(source)).toBe(true);
    const output = instrument(source, { maxMemoryPages: 1 }).bytes;
    expect(validates(output)).toBe(true);
    expect(indexOf(output, locals)).toBeGreaterThan(0);
    expect(indexOf(output, code)).toBeGreaterThan(0);
    expect(indexOf(output, data)).toBeGreaterThan(0);
    expect(indexOf(output, [12, 1, 1])).toBeGreaterThan(0);
  });
});

function indexOf(haystack: Uint8Array, needle: number[]): number {
  return Buffer.from(haystack).indexOf(Buffer.from(needle));
}

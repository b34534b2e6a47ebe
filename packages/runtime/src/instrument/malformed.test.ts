import { ErrorCode, WasmatrixError } from "@wasmatrix/core";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { wat } from "../test-support/wat.js";
import { instrument } from "./index.js";
import { ARITHMETIC, BULK, EXCEPTIONS, INDEXES, SIMD } from "./test-fixtures.js";
import { body, moduleOf, uleb, validates, vec } from "./test-harness.js";

const OPTIONS = { maxMemoryPages: 64 };
const HEADER = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
const FUNC_VOID = [0x60, 0x00, 0x00];
const TYPES = [1, vec([FUNC_VOID])] as [number, number[]];
const ONE_FUNCTION = [3, vec([[0]])] as [number, number[]];

function refusal(bytes: Uint8Array | number[]): WasmatrixError {
  try {
    instrument(Uint8Array.from(bytes), OPTIONS);
  } catch (error) {
    if (WasmatrixError.is(error)) return error;
    throw error;
  }
  throw new Error("expected instrument to refuse the module");
}

/** A module with one `() -> ()` function whose code is `code` (without the final end). */
function withCode(code: number[], extra: [number, number[]][] = []): Uint8Array {
  return moduleOf(TYPES, ONE_FUNCTION, ...extra, [10, vec([body([...code, 0x0b])])]);
}

function name(text: string): number[] {
  const bytes = [...new TextEncoder().encode(text)];
  return [...uleb(bytes.length), ...bytes];
}

describe("malformed modules", () => {
  const cases: [string, Uint8Array | number[], RegExp, number | undefined][] = [
    ["an empty file", [], /truncated: 0 bytes/, 0],
    ["a bad magic number", [0x00, 0x61, 0x73, 0x6e, 1, 0, 0, 0], /bad magic/, 3],
    ["another binary version", [0x00, 0x61, 0x73, 0x6d, 0x0d, 0, 1, 0], /version/, 4],
    ["a section running past the end", [...HEADER, 1, 10, 0], /runs past the end/, 8],
    ["a section size in an overlong LEB", [...HEADER, 1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00], /LEB128/, 9],
    ["an unknown section id", [...HEADER, 14, 0], /unknown section id 14/, 8],
    ["sections out of order", moduleOf(ONE_FUNCTION, TYPES), /type section is out of order/, 12],
    ["a repeated section", moduleOf(TYPES, TYPES), /type section is out of order or repeated/, 14],
    ["an unknown opcode", withCode([0x27]), /unknown opcode 0x27/, undefined],
    ["an unknown 0xFC instruction", withCode([0xfc, 0x20]), /unknown instruction 0xFC 32/, undefined],
    [
      "a truncated immediate",
      moduleOf(TYPES, ONE_FUNCTION, [10, [1, 3, 0, 0x41, 0x80]]),
      /i32.const/,
      undefined,
    ],
    [
      "a body without its final end",
      moduleOf(TYPES, ONE_FUNCTION, [10, vec([body([0x01])])]),
      /final end/,
      undefined,
    ],
    ["bytes after the final end", withCode([0x0b, 0x01]), /past its final end/, undefined],
    [
      "a body larger than its section",
      moduleOf(TYPES, ONE_FUNCTION, [10, [1, 9, 0, 0x0b]]),
      /function body 0/,
      undefined,
    ],
    [
      "fewer bodies than functions",
      moduleOf(TYPES, ONE_FUNCTION, [10, vec([])]),
      /0 function bodies/,
      undefined,
    ],
    ["functions without a code section", moduleOf(TYPES, ONE_FUNCTION), /no code section/, undefined],
    ["a trailing byte in a section", moduleOf([1, [...vec([FUNC_VOID]), 0]]), /trailing bytes/, 14],
    ["an unknown value type", moduleOf([1, vec([[0x60, 1, 0x55, 0]])]), /unknown parameter type 0x55/, 13],
    [
      "an unknown import kind",
      moduleOf([2, vec([[...name("a"), ...name("b"), 7]])]),
      /unknown import kind/,
      15,
    ],
    ["a name that is not UTF-8", moduleOf([2, vec([[1, 0xff, ...name("b"), 0, 0]])]), /not valid UTF-8/, 12],
    ["delegate outside try", withCode([0x18, 0x00]), /delegate outside a try/, undefined],
    [
      "a call to a function that does not exist",
      withCode([0x10, 0x05]),
      /function index 5 is out of range/,
      undefined,
    ],
    [
      "a start function that does not exist",
      moduleOf(TYPES, [8, [0x03]]),
      /function index 3 is out of range/,
      16,
    ],
    ["a data count without data", moduleOf([12, [1]]), /no data section/, undefined],
    [
      "a data count that disagrees",
      moduleOf([12, [2]], [11, vec([[1, 0]])]),
      /data count section says 2/,
      13,
    ],
    ["an empty custom section", [...HEADER, 0, 0], /custom section name/, 10],
  ];

  for (const [what, bytes, message, offset] of cases) {
    it(`refuses ${what} with INVALID_MODULE, saying what and where`, () => {
      const error = refusal(bytes);
      expect(error.code).toBe(ErrorCode.INVALID_MODULE);
      expect(error.message).toMatch(message);
      expect(error.message).toMatch(/at byte offset \d+$/);
      expect(typeof error.details.offset).toBe("number");
      if (offset !== undefined) expect(error.details.offset).toBe(offset);
    });
  }
});

describe("unsupported features", () => {
  const memoryOf = (...flagsMinMax: number[][]) => moduleOf([5, vec(flagsMinMax)]);
  const cases: [string, Uint8Array, RegExp][] = [
    ["memory64", memoryOf([0x04, 1]), /memory64 is not supported/],
    ["two memories", memoryOf([0, 1], [0, 1]), /multi-memory/],
    [
      "an imported and a defined memory",
      moduleOf([2, vec([[...name("env"), ...name("m"), 2, 0, 1]])], [5, vec([[0, 1]])]),
      /multi-memory/,
    ],
    ["memory.grow of memory 1", withCode([0x41, 0, 0x40, 0x01, 0x1a], [[5, vec([[0, 1]])]]), /multi-memory/],
    ["a memarg naming a memory", withCode([0x41, 0, 0x28, 0x42, 0x01, 0x00, 0x1a]), /multi-memory/],
    ["memory.copy between memories", withCode([0x41, 0, 0x41, 0, 0x41, 0, 0xfc, 10, 1, 0]), /multi-memory/],
    ["try_table", withCode([0x1f, 0x40, 0x00, 0x0b]), /exnref exception handling \(try_table\)/],
    ["throw_ref", withCode([0x0a]), /exnref/],
    ["GC struct types", moduleOf([1, vec([[0x5f, 0]])]), /GC types/],
    ["GC instructions", withCode([0xfb, 0x00]), /GC instructions/],
    ["typed function references", withCode([0x14, 0x00]), /typed function references \(call_ref\)/],
    ["a non-nullable reference type", moduleOf([1, vec([[0x60, 1, 0x64, 0x70, 0]])]), /GC \/ typed function/],
  ];

  for (const [what, bytes, message] of cases) {
    it(`refuses ${what} with INVALID_MODULE naming the feature`, () => {
      const error = refusal(bytes);
      expect(error.code).toBe(ErrorCode.INVALID_MODULE);
      expect(error.message).toMatch(message);
      expect(typeof error.details.offset).toBe("number");
    });
  }

  it("refuses modules compiled by wabt with memory64 and multi-memory enabled", async () => {
    const { watWith } = await import("./test-harness.js");
    const memory64 = await watWith(`(module (memory i64 1))`, { features: { memory64: true } });
    expect(refusal(memory64).message).toMatch(/memory64/);
    const multi = await watWith(`(module (memory 1) (memory 1))`, { features: { multi_memory: true } });
    expect(refusal(multi).message).toMatch(/multi-memory/);
  });
});

describe("names the instrumentation reserves", () => {
  it("refuses a module that imports from the wasmatrix namespace, such as an instrumented one", async () => {
    const once = instrument(await wat(`(module (func (export "f")))`), OPTIONS).bytes;
    expect(refusal(once).message).toMatch(/'wasmatrix' namespace is reserved/);
  });

  it("refuses a module that exports __wasmatrix_fuel or __wasmatrix_memory itself", async () => {
    expect(
      refusal(await wat(`(module (global (export "__wasmatrix_fuel") i32 (i32.const 0)))`)).message,
    ).toMatch(/reserved for instrumentation/);
    expect(refusal(await wat(`(module (memory (export "__wasmatrix_memory") 1))`)).message).toMatch(
      /reserved for instrumentation/,
    );
  });

  it("refuses a maxMemoryPages that is not a page count, as a bad request", () => {
    const error = (() => {
      try {
        instrument(Uint8Array.from(HEADER), { maxMemoryPages: -1 });
      } catch (e) {
        return e as WasmatrixError;
      }
    })();
    expect(error?.code).toBe(ErrorCode.INVALID_REQUEST);
  });
});

describe("instrumenting arbitrary bytes", () => {
  const fixtures: Uint8Array[] = [];
  beforeAll(async () => {
    for (const text of [ARITHMETIC, INDEXES, SIMD, BULK, EXCEPTIONS]) fixtures.push(await wat(text));
  });

  /** Instruments `bytes`; returns the output, or null when refused with INVALID_MODULE. */
  function attempt(bytes: Uint8Array): Uint8Array | null {
    try {
      return instrument(bytes, OPTIONS).bytes;
    } catch (error) {
      if (WasmatrixError.is(error) && error.code === ErrorCode.INVALID_MODULE) return null;
      throw error;
    }
  }

  it("a single-byte mutation that still validates is instrumented into a valid module", () => {
    let validMutants = 0;
    fc.assert(
      fc.property(
        fc.nat(fixtures.length - 1),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.integer({ min: 0, max: 255 }),
        (which, where, value) => {
          const mutant = fixtures[which]!.slice();
          mutant[8 + Math.floor(where * (mutant.length - 8))] = value;
          const output = attempt(mutant);
          if (!validates(mutant)) return;
          validMutants++;
          expect(output).not.toBeNull();
          expect(validates(output!)).toBe(true);
        },
      ),
      { numRuns: 1000 },
    );
    // A useful share of random mutations (constants, data, names) keeps the module valid.
    expect(validMutants).toBeGreaterThan(20);
  });

  it("a truncated module is refused, unless it was cut at a section boundary", () => {
    fc.assert(
      fc.property(fc.nat(fixtures.length - 1), fc.double({ min: 0, max: 1, noNaN: true }), (which, where) => {
        const fixture = fixtures[which]!;
        const cut = fixture.subarray(0, Math.floor(where * fixture.length));
        const output = attempt(cut);
        if (validates(cut)) expect(validates(output!)).toBe(true);
        else if (output !== null) expect(cut.length).toBeGreaterThanOrEqual(8);
      }),
      { numRuns: 300 },
    );
  });

  it("random bytes are refused with INVALID_MODULE or give a valid module, never another error", () => {
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      fc.uint8Array({ maxLength: 200 }).map((tail) => Uint8Array.from([...HEADER, ...tail])),
      // Plausible sections: a known id and a size that fits, then random content.
      fc
        .array(fc.tuple(fc.integer({ min: 0, max: 13 }), fc.uint8Array({ maxLength: 40 })), { maxLength: 4 })
        .map((sections) =>
          moduleOf(...sections.map(([id, content]): [number, number[]] => [id, [...content]])),
        ),
    );
    fc.assert(
      fc.property(bytes, (input) => {
        const output = attempt(input);
        if (output !== null) expect(validates(output)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});

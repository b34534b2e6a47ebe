import { ErrorCode, WasmatrixError } from "@wasmatrix/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Reader } from "./reader.js";
import { Writer } from "./writer.js";

function reader(bytes: number[]): Reader {
  return new Reader(Uint8Array.from(bytes), 0, bytes.length);
}

function invalid(fn: () => unknown): WasmatrixError {
  try {
    fn();
  } catch (error) {
    if (WasmatrixError.is(error) && error.code === ErrorCode.INVALID_MODULE) return error;
    throw error;
  }
  throw new Error("expected an INVALID_MODULE error");
}

/** Signed LEB128 of a bigint, as a reference encoder. */
function sleb(value: bigint): number[] {
  const bytes: number[] = [];
  let v = value;
  for (;;) {
    const byte = Number(v & 0x7fn);
    v >>= 7n;
    if ((v === 0n && (byte & 0x40) === 0) || (v === -1n && (byte & 0x40) !== 0)) {
      bytes.push(byte);
      return bytes;
    }
    bytes.push(byte | 0x80);
  }
}

describe("LEB128", () => {
  it("u32 values written by the writer read back the same, consuming every byte", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (value) => {
        const w = new Writer(1);
        w.u32(value);
        const r = new Reader(w.toBytes(), 0, w.len);
        expect(r.u32("value")).toBe(value);
        expect(r.atEnd).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it("non-negative numbers are written as the signed LEB128 a reference encoder gives", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (value) => {
        const w = new Writer(1);
        w.unsignedAsSigned(value);
        expect([...w.toBytes()]).toEqual(sleb(BigInt(value)));
      }),
      { numRuns: 500 },
    );
  });

  it("signed 32- and 64-bit values of any length are skipped exactly", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), fc.integer(), (big, small) => {
        const r64 = reader([...sleb(big), 0xaa]);
        r64.skipSigned(64, "i64");
        expect(r64.pos).toBe(r64.end - 1);
        const r32 = reader([...sleb(BigInt(small)), 0xaa]);
        r32.skipSigned(32, "i32");
        expect(r32.pos).toBe(r32.end - 1);
      }),
      { numRuns: 500 },
    );
  });

  it("s33 block types decode to their value", () => {
    fc.assert(
      fc.property(fc.integer({ min: -(2 ** 32), max: 2 ** 32 - 1 }), (value) => {
        expect(reader(sleb(BigInt(value))).s33("block type")).toBe(value);
      }),
      { numRuns: 300 },
    );
  });

  it("a u32 longer than 5 bytes or with bits past 32 is refused with its offset", () => {
    expect(invalid(() => reader([0x80, 0x80, 0x80, 0x80, 0x80, 0x00]).u32("size")).details.offset).toBe(0);
    expect(invalid(() => reader([0xff, 0xff, 0xff, 0xff, 0x1f]).u32("size")).message).toMatch(
      /too long or too large/,
    );
    expect(reader([0xff, 0xff, 0xff, 0xff, 0x0f]).u32("size")).toBe(0xffffffff);
  });

  it("a signed LEB with bad sign extension in its last byte is refused", () => {
    expect(invalid(() => reader([0xff, 0xff, 0xff, 0xff, 0x4f]).skipSigned(32, "i32")).message).toMatch(
      /sign extension/,
    );
    expect(() => reader([0xff, 0xff, 0xff, 0xff, 0x7f]).skipSigned(32, "i32")).not.toThrow();
    expect(invalid(() => reader(Array(10).fill(0x80).concat([0])).skipSigned(64, "i64")).message).toMatch(
      /longer than 10 bytes/,
    );
  });

  it("reading past the end names what was being read and where", () => {
    const error = invalid(() => new Reader(Uint8Array.of(1, 2, 0x80), 2, 3).u32("export count"));
    expect(error.message).toBe("unexpected end of export count at byte offset 2");
    expect(error.details.offset).toBe(2);
    expect(invalid(() => reader([3, 0x61]).name("import name")).message).toMatch(
      /unexpected end of import name/,
    );
    expect(invalid(() => reader([2, 0xc3, 0x28]).name("export name")).message).toMatch(/not valid UTF-8/);
  });
});

describe("Writer", () => {
  it("grows as needed and copies runs of any length intact", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 100 }), { maxLength: 30 }), (chunks) => {
        const w = new Writer(1);
        for (const chunk of chunks) w.bytes(chunk);
        expect(w.toBytes()).toEqual(Uint8Array.from(chunks.flatMap((c) => [...c])));
      }),
      { numRuns: 200 },
    );
  });
});

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { truncate, wellFormed } from "./text.js";

const points = (text: string) => [...text].length;
/** What grpc-js does to a status message: it throws on a lone surrogate. */
const encodable = (text: string) => {
  try {
    encodeURI(text);
    return true;
  } catch {
    return false;
  }
};

describe("truncate", () => {
  it("never splits a surrogate pair: 63 letters and an emoji cut at 64 keep the whole emoji", () => {
    const text = `${"a".repeat(63)}😀${"b".repeat(10)}`;
    const cut = truncate(text, 64);
    expect(cut).toBe(`${"a".repeat(63)}😀…`);
    expect(encodable(cut)).toBe(true);
  });

  it("keeps a well-formed string well-formed, cuts at most `max` code points and keeps a prefix", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", maxLength: 200 }), fc.nat(150), (text, max) => {
        const cut = truncate(text, max);
        expect(encodable(cut)).toBe(true);
        if (cut === text) return;
        expect(cut.endsWith("…")).toBe(true);
        const kept = cut.slice(0, -1);
        expect(text.startsWith(kept)).toBe(true);
        expect(points(kept)).toBe(max);
      }),
    );
  });

  it("leaves a string of at most `max` code points as it is", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", maxLength: 80 }), (text) => {
        expect(truncate(text, points(text))).toBe(text);
      }),
    );
  });
});

describe("wellFormed", () => {
  it("replaces lone surrogates only, so that any string can be encoded as UTF-8 and back", () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.nat(0xffff).map((c) => String.fromCharCode(c)) }), (text) => {
        const clean = wellFormed(text);
        expect(clean.length).toBe(text.length);
        expect(Buffer.from(clean, "utf8").toString("utf8")).toBe(clean);
        expect(encodable(clean)).toBe(true);
        if (encodable(text)) expect(clean).toBe(text);
      }),
    );
  });
});

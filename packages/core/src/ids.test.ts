import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ErrorCode } from "./errors.js";
import { InstanceId, MAX_ID_LENGTH, ModuleDigest, NodeId, ProviderId } from "./ids.js";

const idChar = fc.constantFrom(..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");
const alnum = fc.constantFrom(..."abcXYZ0123456789");
const validId = fc
  .tuple(alnum, fc.array(idChar, { maxLength: MAX_ID_LENGTH - 1 }))
  .map(([first, rest]) => first + rest.join(""));

describe("typed ids", () => {
  for (const [name, Id] of [
    ["instance", InstanceId],
    ["node", NodeId],
    ["provider", ProviderId],
  ] as const) {
    it(`accepts every ${name} id made of [A-Za-z0-9._-] that starts with a letter or digit`, () => {
      fc.assert(
        fc.property(validId, (id) => {
          expect(Id.parse(id)).toBe(id);
          expect(Id.isValid(id)).toBe(true);
        }),
        { numRuns: 200 },
      );
    });

    it(`refuses empty, overlong, badly started or badly spelled ${name} ids with INVALID_REQUEST`, () => {
      const invalid = fc.oneof(
        fc.constant(""),
        validId.map((id) => id.padEnd(MAX_ID_LENGTH + 1, "x")),
        fc.tuple(fc.constantFrom(".", "_", "-"), validId).map(([c, id]) => c + id),
        fc.tuple(validId, fc.constantFrom(" ", "/", "*", ">", ":", "é", "\n")).map(([id, c]) => id + c),
      );
      fc.assert(
        fc.property(invalid, (id) => {
          expect(Id.isValid(id)).toBe(false);
          expect(() => Id.parse(id)).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_REQUEST }));
        }),
        { numRuns: 200 },
      );
      expect(() => Id.parse(42)).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_REQUEST }));
    });

    it(`generates valid, distinct ${name} ids`, () => {
      const ids = new Set(Array.from({ length: 1000 }, () => Id.generate()));
      expect(ids.size).toBe(1000);
      for (const id of ids) expect(Id.isValid(id)).toBe(true);
    });
  }

  it("accepts module digests only as sha256: and 64 lowercase hex digits", () => {
    const hex = "ab".repeat(32);
    expect(ModuleDigest.parse(`sha256:${hex}`)).toBe(`sha256:${hex}`);
    expect(ModuleDigest.fromHex(hex.toUpperCase())).toBe(`sha256:${hex}`);
    for (const bad of ["", hex, `sha256:${hex.slice(1)}`, `sha256:${hex.toUpperCase()}`, `md5:${hex}`]) {
      expect(() => ModuleDigest.parse(bad)).toThrow(
        expect.objectContaining({ code: ErrorCode.INVALID_REQUEST }),
      );
    }
  });
});

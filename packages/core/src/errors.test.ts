import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ErrorCode, GRPC_STATUS_BY_CODE, GrpcStatus, isErrorCode, WasmatrixError } from "./errors.js";

const CODES = Object.values(ErrorCode);
const STATUS_NAME = new Map(Object.entries(GrpcStatus).map(([name, value]) => [value, name]));

describe("errors", () => {
  it("survive the trip through JSON with code, message, details and timestamp intact", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...CODES),
        fc.string(),
        fc.dictionary(fc.string(), fc.jsonValue()),
        fc.nat(),
        (code, message, details, timestamp) => {
          const error = new WasmatrixError(code, message, details, { timestamp });
          const wire = JSON.parse(JSON.stringify(error));
          const back = WasmatrixError.fromData(wire);
          // Compared with the JSON form: JSON itself turns -0 into 0, which is not ours to fix.
          expect(back.toData()).toEqual(wire);
          expect(back.code).toBe(code);
          expect(back.message).toBe(message);
          expect(back.grpcStatus).toBe(GRPC_STATUS_BY_CODE[code]);
        },
      ),
      { numRuns: 100 },
    );
  });

  it("turn an unknown code from the wire into INTERNAL", () => {
    const back = WasmatrixError.fromData({
      code: "NOPE" as ErrorCode,
      message: "x",
      details: {},
      timestamp: 1,
    });
    expect(back.code).toBe(ErrorCode.INTERNAL);
    expect(isErrorCode("NOPE")).toBe(false);
  });

  it("are all documented in docs/errors.md with their gRPC status", () => {
    const doc = readFileSync(fileURLToPath(new URL("../../../docs/errors.md", import.meta.url)), "utf8");
    for (const code of CODES) {
      const row = doc.split("\n").find((line) => new RegExp(`^\\|\\s*\`${code}\`\\s*\\|`).test(line));
      expect(row, `docs/errors.md has no row for ${code}`).toBeDefined();
      const status = GRPC_STATUS_BY_CODE[code];
      expect(row).toContain(`\`${STATUS_NAME.get(status)}\` (${status})`);
    }
  });
});

import { Metadata, type ServiceError, status } from "@grpc/grpc-js";
import { ErrorCode, GRPC_STATUS_BY_CODE, WasmatrixError } from "@wasmatrix/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CODE_METADATA_KEY, DETAILS_METADATA_KEY, fromServiceError, toServiceError } from "./errors.js";
import { checkProtocolVersion, PROTOCOL_VERSION } from "./version.js";

/**
 * A WasmatrixError raised on one side of a call is the error the other side gets: the same code,
 * message, details and timestamp, under the gRPC status the documented table gives its code.
 */

const RUNS = { numRuns: 200 };
const CODES = Object.values(ErrorCode);
// Fact data and error details travel as JSON text: what JSON gives back is what they can hold
// (-0 becomes 0, for one).
const details = fc
  .dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), {
    maxKeys: 4,
    noNullPrototype: true,
  })
  .map((value) => JSON.parse(JSON.stringify(value)) as Record<string, unknown>);

/** What grpc-js hands a client: the status, the details text and the metadata the server sent. */
function asReceived(sent: Partial<ServiceError>): ServiceError {
  const metadata = new Metadata();
  // Metadata crosses the wire as headers: values are copied, not shared.
  for (const [key, values] of Object.entries(sent.metadata!.toJSON())) {
    for (const value of values)
      metadata.add(key, Buffer.isBuffer(value) ? Buffer.from(value) : String(value));
  }
  return Object.assign(new Error(`${sent.code} ${sent.details}`), {
    code: sent.code!,
    details: sent.details!,
    metadata,
  });
}

describe("errors across gRPC", () => {
  it("every WasmatrixError comes back with its code, message, details and timestamp", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...CODES),
        fc.string({ unit: "grapheme", minLength: 1, maxLength: 60 }),
        details,
        fc.integer({ min: 0, max: 2 ** 42 }),
        (code, message, data, timestamp) => {
          const sent = toServiceError(new WasmatrixError(code, message, data, { timestamp }));
          expect(sent.code).toBe(GRPC_STATUS_BY_CODE[code]);
          const back = fromServiceError(asReceived(sent));
          expect(back).toBeInstanceOf(WasmatrixError);
          expect(back.toData()).toEqual({ code, message, details: data, timestamp });
        },
      ),
      RUNS,
    );
  });

  it("anything else thrown on the server becomes INTERNAL", () => {
    for (const thrown of [new Error("boom"), "a string", 42, null, { weird: true }]) {
      const sent = toServiceError(thrown);
      expect(sent.code).toBe(status.INTERNAL);
      expect(fromServiceError(asReceived(sent)).code).toBe(ErrorCode.INTERNAL);
    }
  });

  it("details that cannot be serialised are dropped, not the error", () => {
    const cyclic: Record<string, unknown> = {};
    cyclic["self"] = cyclic;
    const sent = toServiceError(new WasmatrixError(ErrorCode.TIMEOUT, "slow", { cyclic, big: 1n }));
    const back = fromServiceError(asReceived(sent));
    expect(back.code).toBe(ErrorCode.TIMEOUT);
    expect(back.details).toEqual({});
  });

  it("failures below wasmatrix (no metadata) map to the codes a caller can act on", () => {
    const bare = (code: number, detailsText: string) =>
      Object.assign(new Error(detailsText), { code, details: detailsText, metadata: new Metadata() });
    const unavailable = fromServiceError(
      bare(status.UNAVAILABLE, "No connection established. Last error: ECONNREFUSED. Resolution note: "),
    );
    expect(unavailable.code).toBe(ErrorCode.NODE_UNAVAILABLE);
    expect(unavailable.message).not.toMatch(/Resolution note/);
    expect(fromServiceError(bare(status.DEADLINE_EXCEEDED, "deadline")).code).toBe(ErrorCode.TIMEOUT);
    expect(fromServiceError(bare(status.RESOURCE_EXHAUSTED, "too big")).code).toBe(
      ErrorCode.RESOURCE_EXHAUSTED,
    );
    expect(fromServiceError(bare(status.UNIMPLEMENTED, "no such method")).code).toBe(
      ErrorCode.INCOMPATIBLE_VERSION,
    );
    expect(fromServiceError(bare(status.DATA_LOSS, "?")).code).toBe(ErrorCode.INTERNAL);
    // A code this side does not know (a newer server) is not trusted as a code.
    const unknown = new Metadata();
    unknown.set(CODE_METADATA_KEY, "SOMETHING_NEW");
    unknown.set(DETAILS_METADATA_KEY, Buffer.from("{}"));
    expect(
      fromServiceError(
        Object.assign(new Error("x"), { code: status.NOT_FOUND, details: "x", metadata: unknown }),
      ).code,
    ).toBe(ErrorCode.INTERNAL);
  });
});

describe("protocol versions", () => {
  it("accepts every minor of this major", () => {
    const [major] = PROTOCOL_VERSION.split(".");
    fc.assert(
      fc.property(fc.nat(), (minor) => {
        expect(() => checkProtocolVersion(`${major}.${minor}`)).not.toThrow();
      }),
      RUNS,
    );
  });

  it("refuses any other major, and anything that is not major.minor, with INCOMPATIBLE_VERSION", () => {
    const [major] = PROTOCOL_VERSION.split(".");
    const other = fc.oneof(
      fc
        .tuple(fc.nat(), fc.nat())
        .filter(([m]) => String(m) !== major)
        .map(([m, n]) => `${m}.${n}`),
      fc.string().filter((s) => !/^\d+\.\d+$/.test(s)),
    );
    fc.assert(
      fc.property(other, (peer) => {
        let thrown: unknown;
        try {
          checkProtocolVersion(peer);
        } catch (error) {
          thrown = error;
        }
        expect(WasmatrixError.is(thrown), peer).toBe(true);
        expect((thrown as WasmatrixError).code).toBe(ErrorCode.INCOMPATIBLE_VERSION);
        expect((thrown as WasmatrixError).details).toEqual({ peer, local: PROTOCOL_VERSION });
      }),
      RUNS,
    );
  });
});

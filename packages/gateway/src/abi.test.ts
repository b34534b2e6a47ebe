import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeHttpRequest, decodeHttpResponse, encodeHttpRequest, encodeHttpResponse } from "./abi.js";

const header = fc.tuple(fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/), fc.string({ maxLength: 40 }));
const body = fc.uint8Array({ maxLength: 300 });

describe("the HTTP handler encoding", () => {
  it("decodes every request it encodes to the same request", () => {
    fc.assert(
      fc.property(
        fc.constantFrom("GET", "POST", "DELETE", "PROPFIND"),
        fc.string({ maxLength: 60 }).map((s) => `/${s}`),
        fc.string({ maxLength: 30 }),
        fc.array(header, { maxLength: 6 }),
        body,
        (method, path, query, headers, bytes) => {
          const request = { method, path, query, headers, body: bytes };
          const decoded = decodeHttpRequest(encodeHttpRequest(request));
          expect({ ...decoded, body: [...decoded.body] }).toEqual({ ...request, body: [...bytes] });
        },
      ),
    );
  });

  it("decodes every response it encodes, and refuses truncated ones", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 100, max: 599 }),
        fc.array(header, { maxLength: 6 }),
        body,
        (status, headers, bytes) => {
          const encoded = encodeHttpResponse({ status, headers, body: bytes });
          const decoded = decodeHttpResponse(encoded);
          expect(decoded.status).toBe(status);
          expect(decoded.headers).toEqual(headers);
          expect([...decoded.body]).toEqual([...bytes]);
          expect(() => decodeHttpResponse(encoded.subarray(0, encoded.byteLength - 1))).toThrow(/truncated/);
        },
      ),
    );
  });

  it("lays a response out as documented in docs/abi.md", () => {
    const bytes = encodeHttpResponse({ status: 201, headers: [["a", "bc"]], body: Uint8Array.of(9) });
    expect([...bytes]).toEqual([201, 0, 1, 0, 1, 0, 97, 2, 0, 0, 0, 98, 99, 1, 0, 0, 0, 9]);
    expect(() => decodeHttpResponse(Uint8Array.of(99, 0, 0, 0, 0, 0, 0, 0))).toThrow(/not an HTTP status/);
  });
});

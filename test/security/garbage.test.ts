import { type MethodDefinition, status } from "@grpc/grpc-js";
import { ErrorCode, GRPC_STATUS_BY_CODE } from "@wasmatrix/core";
import * as pb from "@wasmatrix/proto";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AuthServer, rawCall, startAuthServer } from "./harness.js";

/** Protobuf wire bytes with arbitrary fields (numbers 1-20 and 100-119) of arbitrary values. */
const wireField = fc.oneof(
  fc.record({ field: fc.integer({ min: 1, max: 20 }), value: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) }),
  fc.record({
    field: fc.oneof(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 100, max: 119 })),
    bytes: fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      fc.string({ unit: "binary", maxLength: 64 }).map((s) => new TextEncoder().encode(s)),
    ),
  }),
);

function varint(value: bigint): number[] {
  const out: number[] = [];
  let v = value;
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    out.push(byte);
  } while (v > 0n);
  return out;
}

function encodeFields(
  fields: readonly ({ field: number; value: bigint } | { field: number; bytes: Uint8Array })[],
) {
  const out: number[] = [];
  for (const f of fields) {
    if ("value" in f) out.push(...varint(BigInt(f.field << 3)), ...varint(f.value));
    else out.push(...varint(BigInt((f.field << 3) | 2)), ...varint(BigInt(f.bytes.length)), ...f.bytes);
  }
  return Buffer.from(out);
}

const body = fc.oneof(
  fc.array(wireField, { maxLength: 8 }).map(encodeFields),
  fc.uint8Array({ maxLength: 256 }).map((b) => Buffer.from(b)),
);

/** What the API documents: OK, the status of each WasmatrixError code, and a stream's deadline. */
const DOCUMENTED = new Set<number>([status.OK, ...Object.values(GRPC_STATUS_BY_CODE)]);
const CODES = new Set<string>(Object.values(ErrorCode));

describe("arbitrary and garbage requests to every ControlPlane RPC of up --auth", () => {
  let server: AuthServer;
  let tokens: (string | undefined)[];

  beforeAll(async () => {
    server = await startAuthServer();
    tokens = [undefined, "not-a-token", server.adminToken, await server.token("reader", "shop")];
  }, 60_000);
  afterAll(() => server?.close());

  const methods = Object.values(pb.ControlPlaneService) as unknown as MethodDefinition<unknown, unknown>[];

  it("gets only documented status codes with a stable wasmatrix code, and the daemon keeps serving", async () => {
    for (const method of methods) {
      await fc.assert(
        fc.asyncProperty(body, fc.integer({ min: 0, max: 3 }), async (bytes, which) => {
          // A followed stream runs until its deadline: that is the one undocumented-looking end allowed.
          const answer = await rawCall(
            server.address,
            method,
            bytes,
            tokens[which],
            method.responseStream ? 2_000 : 15_000,
          );
          if (method.responseStream && answer.code === status.DEADLINE_EXCEEDED) return;
          const what = `${method.path}: ${answer.code} ${answer.wasmatrixCode ?? "(no code)"}`;
          expect(DOCUMENTED.has(answer.code), what).toBe(true);
          if (answer.code !== status.OK) expect(CODES.has(answer.wasmatrixCode ?? ""), what).toBe(true);
        }),
        { numRuns: 15 },
      );
    }
    const info = await rawCall(
      server.address,
      pb.ControlPlaneService.serverInfo as unknown as MethodDefinition<unknown, unknown>,
      Buffer.alloc(0),
      server.adminToken,
    );
    expect(info.code).toBe(status.OK);
  }, 300_000);
});

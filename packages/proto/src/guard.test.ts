import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { Client, credentials, Metadata, type ServiceError, status } from "@grpc/grpc-js";
import { ErrorCode, WasmatrixError, wellFormed } from "@wasmatrix/core";
import fc from "fast-check";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CODE_METADATA_KEY,
  DETAILS_METADATA_KEY,
  MAX_STATUS_MESSAGE_ENCODED_CHARS,
  statusMessage,
} from "./errors.js";
import { ControlPlaneService, QueryInstanceResponse } from "./generated/wasmatrix/v1/control_plane.js";
import { Fact, Instance } from "./generated/wasmatrix/v1/types.js";
import { type RunningServer, startGrpcServer, streaming, unary } from "./server.js";

/**
 * A real server on 127.0.0.1 whose handlers misbehave in every way the guard must absorb, called
 * with raw bytes, as an attacker would. Before the guard, the first test ended the test process.
 */

const identity = (bytes: Buffer) => bytes;
const LONE_SURROGATE_MESSAGE = `capability '${"a".repeat(63)}\ud83d…' is unknown`;

interface Answer {
  error: ServiceError | null;
  body: Buffer | null;
}

function rawUnary(client: Client, path: string, body: Buffer): Promise<Answer> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(path, identity, identity, body, new Metadata(), {}, (error, response) =>
      resolve({ error: error ?? null, body: response ?? null }),
    );
  });
}

function rawStream(client: Client, path: string, body: Buffer): Promise<Answer> {
  return new Promise((resolve) => {
    const call = client.makeServerStreamRequest(path, identity, identity, body, new Metadata(), {});
    call.on("data", () => {});
    call.on("error", (error: ServiceError) => resolve({ error, body: null }));
    call.on("end", () => resolve({ error: null, body: null }));
  });
}

const logged: Record<string, unknown>[] = [];
const logger = pino(
  { level: "error" },
  { write: (line: string) => void logged.push(JSON.parse(line) as Record<string, unknown>) },
);

describe("the guard every gRPC server runs behind", () => {
  let server: RunningServer;
  let client: Client;

  beforeAll(async () => {
    const implementation = {
      // A refusal whose message holds half of a surrogate pair, as truncate() used to make.
      assignCapability: unary(async () => {
        throw new WasmatrixError(ErrorCode.INVALID_REQUEST, LONE_SURROGATE_MESSAGE, {
          capability: "a\ud83d",
        });
      }),
      invoke: () => {
        throw new TypeError("handler bug");
      },
      stopInstance: unary(async () => {
        throw new TypeError("async handler bug");
      }),
      queryInstance: unary(async () => QueryInstanceResponse.fromPartial({})),
      startInstance: unary(async () => Instance.fromPartial({})),
      watchEvents: streaming(async function* (request: { afterSeq: number }) {
        yield Fact.fromPartial({ seq: request.afterSeq });
        throw new WasmatrixError(ErrorCode.INVALID_REQUEST, "stream \udc00 ended");
      }),
      streamLogs: () => {
        throw new Error("stream handler bug");
      },
    };
    server = await startGrpcServer("127.0.0.1:0", [{ definition: ControlPlaneService, implementation }], {
      logger,
    });
    client = new Client(server.address, credentials.createInsecure());
  });
  afterAll(async () => {
    client?.close();
    await server?.close(0);
  });

  const path = (method: keyof typeof ControlPlaneService) => ControlPlaneService[method].path;
  const empty = Buffer.alloc(0);

  it("sends a status message holding a lone surrogate well-formed, and keeps serving", async () => {
    const { error } = await rawUnary(client, path("assignCapability"), empty);
    expect(error?.code).toBe(status.INVALID_ARGUMENT);
    expect(error?.details).toBe(statusMessage(LONE_SURROGATE_MESSAGE));
    expect(error?.details).toContain("\ufffd");
    expect(JSON.parse(String(error?.metadata.get(DETAILS_METADATA_KEY)[0]))).toEqual({
      capability: "a\ufffd",
    });
    expect((await rawUnary(client, path("queryInstance"), empty)).error).toBeNull();
  });

  it("ends a stream whose error message holds a lone surrogate with that error, well-formed", async () => {
    const { error } = await rawStream(client, path("watchEvents"), empty);
    expect(error?.code).toBe(status.INVALID_ARGUMENT);
    expect(error?.details).toBe("stream \ufffd ended");
  });

  it("answers a handler that throws, synchronously or not, with a logged INTERNAL", async () => {
    logged.length = 0;
    for (const method of ["invoke", "stopInstance"] as const) {
      const { error } = await rawUnary(client, path(method), empty);
      expect(error?.code, method).toBe(status.INTERNAL);
      expect(error?.metadata.get(CODE_METADATA_KEY)).toEqual([ErrorCode.INTERNAL]);
    }
    const streamed = await rawStream(client, path("streamLogs"), empty);
    expect(streamed.error?.code).toBe(status.INTERNAL);
    expect(logged.map((line) => (line["err"] as { message: string }).message)).toEqual([
      "handler bug",
      "async handler bug",
      "stream handler bug",
    ]);
  });

  it("refuses an after_seq of 2^53+1 with INVALID_REQUEST naming the field, not INTERNAL", async () => {
    const body = Buffer.from(
      new BinaryWriter()
        .uint32(8)
        .uint64(2n ** 53n + 1n)
        .finish(),
    );
    const { error } = await rawStream(client, path("watchEvents"), body);
    expect(error?.code).toBe(status.INVALID_ARGUMENT);
    expect(error?.metadata.get(CODE_METADATA_KEY)).toEqual([ErrorCode.INVALID_REQUEST]);
    expect(error?.details).toMatch(/^WatchEvents: 'afterSeq' is beyond/);
  });

  it("names the nested field of any uint64 past 2^53 and lets every smaller one through", async () => {
    await fc.assert(
      fc.asyncProperty(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), async (fuel) => {
        // StartInstanceRequest.limits (field 6) is InstanceLimits; its fuel is field 2.
        const limits = new BinaryWriter().uint32(16).uint64(fuel).finish();
        const body = Buffer.from(new BinaryWriter().uint32(50).bytes(limits).finish());
        const start = await rawUnary(client, path("startInstance"), body);
        if (fuel > BigInt(Number.MAX_SAFE_INTEGER)) {
          expect(start.error?.code).toBe(status.INVALID_ARGUMENT);
          expect(JSON.parse(String(start.error?.metadata.get(DETAILS_METADATA_KEY)[0]))).toMatchObject({
            rpc: "StartInstance",
            field: "limits.fuel",
          });
        } else {
          expect(start.error).toBeNull();
        }
      }),
      { numRuns: 40 },
    );
  });

  it("refuses a body that is not the request message with INVALID_REQUEST, never INTERNAL", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 64 }), async (bytes) => {
        const { error } = await rawUnary(client, path("queryInstance"), Buffer.from(bytes));
        if (error === null) return; // some byte strings are valid messages
        expect(error.code).toBe(status.INVALID_ARGUMENT);
        expect(error.metadata.get(CODE_METADATA_KEY)).toEqual([ErrorCode.INVALID_REQUEST]);
      }),
      { numRuns: 100 },
    );
  });
});

/** Up to ~6 000 code points, lone surrogates included, cheaply. */
const longText = fc
  .tuple(fc.string({ unit: "binary", maxLength: 100 }), fc.nat(60))
  .map(([text, times]) => text.repeat(times));

describe("statusMessage", () => {
  it("keeps whole a text whose encoding fits the limit, even within the room the ellipsis would take", () => {
    // 340 four-byte characters encode to 4 080 characters and one three-byte character to 9 more:
    // 4 089 fits the 4 096 limit, though it is past the 4 087 that leave room for an ellipsis.
    const text = `${"𐀀".repeat(340)}ࠀ`;
    expect(encodeURI(text).length).toBe(4_089);
    expect(statusMessage(text)).toBe(text);
  });

  it("makes any text well-formed and short enough for the trailers", () => {
    fc.assert(
      fc.property(longText, (text) => {
        const message = statusMessage(text);
        expect(() => encodeURI(message)).not.toThrow();
        expect(encodeURI(message).length).toBeLessThanOrEqual(MAX_STATUS_MESSAGE_ENCODED_CHARS);
        if (encodeURI(wellFormed(text)).length <= MAX_STATUS_MESSAGE_ENCODED_CHARS) {
          expect(message).toBe(wellFormed(text));
        } else {
          expect(wellFormed(text).startsWith(message.slice(0, -1))).toBe(true);
        }
      }),
    );
  });
});

import { readFileSync } from "node:fs";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import {
  Client,
  credentials,
  Metadata,
  type ServiceDefinition,
  type ServiceError,
  status,
} from "@grpc/grpc-js";
import fc from "fast-check";

/**
 * Arbitrary calls to every RPC of a service, as an attacker with network access sends them: raw
 * garbage bodies, random protobuf wire messages (nested, with 64-bit integers up to 2^64−1 and
 * full-unicode strings) and the method's own message with every field set to something nasty.
 * The methods come from the generated service definition, so a new RPC is fuzzed without a line
 * here.
 */

const MAX_U64 = 2n ** 64n - 1n;
/** A stream that stays open (WatchEvents, StreamLogs with follow) is cut after this long. */
const STREAM_DEADLINE_MS = 200;
const UNARY_DEADLINE_MS = 10_000;

export interface Call {
  method: string;
  body: Buffer;
}

/** Strings that broke or could break a server: cut emoji, lone surrogates, huge, empty. */
export const nastyString: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.string({ unit: "binary", maxLength: 80 }), weight: 4 },
  { arbitrary: fc.nat(70).map((n) => `${"a".repeat(n)}😀😀`), weight: 4 },
  {
    arbitrary: fc.constantFrom(
      "",
      "\ud83d",
      "\udc00x",
      "a\u0000b",
      "*",
      ">",
      "keyvalue",
      "kv:read",
      "default",
    ),
    weight: 3,
  },
  { arbitrary: fc.nat({ max: 100_000 }).map((n) => "é".repeat(n)), weight: 1 },
);

const u64: fc.Arbitrary<bigint> = fc.oneof(
  fc.bigInt({ min: 0n, max: MAX_U64 }),
  fc.constantFrom(0n, 1n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 63n, MAX_U64),
);

interface WireField {
  field: number;
  value:
    | { kind: "varint"; n: bigint }
    | { kind: "bytes"; bytes: Uint8Array }
    | { kind: "fixed64"; n: bigint }
    | { kind: "fixed32"; n: number };
}

const wireMessage: fc.Arbitrary<Uint8Array> = fc
  .letrec<{ message: WireField[]; field: WireField }>((tie) => ({
    message: fc.array(tie("field"), { maxLength: 8 }),
    field: fc.record({
      field: fc.integer({ min: 1, max: 20 }),
      value: fc.oneof(
        { depthSize: "small", withCrossShrink: true },
        u64.map((n) => ({ kind: "varint" as const, n })),
        nastyString.map((text) => ({ kind: "bytes" as const, bytes: Buffer.from(text) })),
        fc.uint8Array({ maxLength: 64 }).map((bytes) => ({ kind: "bytes" as const, bytes })),
        tie("message").map((fields) => ({
          kind: "bytes" as const,
          bytes: encodeWire(fields as WireField[]),
        })),
        u64.map((n) => ({ kind: "fixed64" as const, n })),
        fc.nat().map((n) => ({ kind: "fixed32" as const, n })),
      ),
    }),
  }))
  .message.map((fields) => encodeWire(fields));

function encodeWire(fields: WireField[]): Uint8Array {
  const writer = new BinaryWriter();
  for (const { field, value } of fields) {
    switch (value.kind) {
      case "varint":
        writer.uint32(field << 3).uint64(value.n);
        break;
      case "bytes":
        writer.uint32((field << 3) | 2).bytes(value.bytes);
        break;
      case "fixed64":
        writer.uint32((field << 3) | 1).fixed64(value.n);
        break;
      case "fixed32":
        writer.uint32((field << 3) | 5).fixed32(value.n);
        break;
    }
  }
  return writer.finish();
}

/** A value of the same kind as `example` (a field of a default message), but nasty. */
function nastyLike(example: unknown): fc.Arbitrary<unknown> {
  if (typeof example === "string") return nastyString;
  if (typeof example === "number") {
    return fc.oneof(fc.integer(), fc.constantFrom(0, 2 ** 32 - 1, Number.MAX_SAFE_INTEGER), fc.nat());
  }
  if (typeof example === "boolean") return fc.boolean();
  if (Array.isArray(example)) return fc.array(nastyString, { maxLength: 4 });
  if (example instanceof Uint8Array) return fc.uint8Array({ maxLength: 4096 }).map((b) => Buffer.from(b));
  if (typeof example === "object" && example !== null) {
    return fc.dictionary(nastyString, nastyString, { maxKeys: 3, noNullPrototype: true });
  }
  return fc.constant(example);
}

/** Every method of `service` with a body of one of the three kinds. */
export function arbitraryCall(service: ServiceDefinition): fc.Arbitrary<Call> {
  const methods = Object.keys(service);
  return fc.constantFrom(...methods).chain((method) => {
    const definition = service[method]!;
    const defaults = definition.requestDeserialize(Buffer.alloc(0)) as Record<string, unknown>;
    const typed = fc
      .record(Object.fromEntries(Object.entries(defaults).map(([key, value]) => [key, nastyLike(value)])))
      .map((fields) => {
        try {
          return Buffer.from(definition.requestSerialize({ ...defaults, ...fields }));
        } catch {
          return Buffer.alloc(0); // a combination the encoder refuses: the empty message instead
        }
      });
    const body = fc.oneof(
      fc.uint8Array({ maxLength: 256 }).map((b) => Buffer.from(b)),
      wireMessage.map((b) => Buffer.from(b)),
      typed,
    );
    return body.map((b) => ({ method, body: b }));
  });
}

export interface Outcome {
  method: string;
  code: number;
  details: string;
}

/** Sends `call` as raw bytes and resolves with its status (OK included); never rejects. */
export function send(client: Client, service: ServiceDefinition, call: Call): Promise<Outcome> {
  const definition = service[call.method]!;
  const identity = (bytes: Buffer) => bytes;
  const metadata = new Metadata();
  return new Promise((resolve) => {
    const settle = (error: ServiceError | null) =>
      resolve({
        method: call.method,
        code: error?.code ?? status.OK,
        details: error?.details ?? "",
      });
    if (definition.responseStream) {
      const stream = client.makeServerStreamRequest(
        definition.path,
        identity,
        identity,
        call.body,
        metadata,
        {
          deadline: Date.now() + STREAM_DEADLINE_MS,
        },
      );
      stream.on("data", () => {});
      stream.on("error", settle);
      stream.on("end", () => settle(null));
    } else {
      client.makeUnaryRequest(
        definition.path,
        identity,
        identity,
        call.body,
        metadata,
        { deadline: Date.now() + UNARY_DEADLINE_MS },
        (error) => settle(error ?? null),
      );
    }
  });
}

export function rawClient(address: string): Client {
  return new Client(address, credentials.createInsecure(), {
    "grpc.max_send_message_length": 80 * 1024 * 1024,
    "grpc.max_receive_message_length": 80 * 1024 * 1024,
  });
}

/** Resident memory of a process, from /proc/<pid>/status (VmRSS), in bytes. */
export function rssBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (match === null) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) * 1024;
}

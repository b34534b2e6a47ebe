import { BinaryReader } from "@bufbuild/protobuf/wire";
import { ErrorCode, truncate, WasmatrixError } from "@wasmatrix/core";

/**
 * How a server reads a request's bytes. grpc-js answers any decoding failure with `INTERNAL:
 * Error deserializing request`, and INTERNAL means a bug (docs/errors.md); a body that is not the
 * message, or a 64-bit integer the code cannot hold, is the caller's mistake. So decoding never
 * throws here: a refused body becomes a `RefusedRequest`, which the guard (guard.ts) answers with
 * INVALID_REQUEST before the handler runs.
 *
 * Integers past 2^53−1 are refused, not carried. Every uint64 of the protocol is a sequence
 * number, a millisecond timestamp, a byte count or a fuel budget, none of which gets near 2^53;
 * carrying them losslessly (ts-proto's forceLong=bigint or =string) would turn each of those into
 * a bigint or a string through core, the runtime and every client for values nobody can use.
 * Refusing them here covers every uint64/int64 field of every request, present and future,
 * without touching the generated code.
 */

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** A request the server refuses before any handler sees it. */
export class RefusedRequest {
  constructor(readonly error: WasmatrixError) {}
}

/**
 * A reader whose 64-bit integers outside ±(2^53−1) read as `standIn` (the generated decoder
 * would throw an error naming no field). Decoding twice with two stand-ins and comparing the
 * results tells exactly which fields held such an integer, by name, with no schema at hand.
 */
class CheckedReader extends BinaryReader {
  outOfRange = 0;

  constructor(
    bytes: Uint8Array,
    private readonly standIn: bigint,
  ) {
    super(bytes);
  }

  override int64(): bigint | string {
    return this.check(super.int64());
  }
  override uint64(): bigint | string {
    return this.check(super.uint64());
  }
  override sint64(): bigint | string {
    return this.check(super.sint64());
  }
  override fixed64(): bigint | string {
    return this.check(super.fixed64());
  }
  override sfixed64(): bigint | string {
    return this.check(super.sfixed64());
  }

  private check(value: bigint | string): bigint | string {
    const big = BigInt(value);
    if (big <= MAX_SAFE && big >= -MAX_SAFE) return value;
    this.outOfRange += 1;
    return this.standIn;
  }
}

/**
 * Wraps a generated `requestDeserialize` so that it returns a `RefusedRequest` instead of
 * throwing. `rpc` is the method's path (`/wasmatrix.v1.ControlPlane/WatchEvents`).
 */
export function checkedDeserializer<T>(
  rpc: string,
  deserialize: (bytes: Buffer) => T,
): (bytes: Buffer) => T | RefusedRequest {
  const name = rpc.slice(rpc.lastIndexOf("/") + 1);
  // ts-proto's decode(input) takes a BinaryReader as well as bytes, and grpc-js's generated
  // `requestDeserialize` passes its argument straight to it; only the declared type says Buffer.
  const decode = (reader: CheckedReader) => deserialize(reader as unknown as Buffer);
  return (bytes) => {
    try {
      const first = new CheckedReader(bytes, 0n);
      const message = decode(first);
      if (first.outOfRange === 0) return message;
      const fields = differingPaths(message, decode(new CheckedReader(bytes, 1n)), "");
      return new RefusedRequest(tooLarge(name, fields));
    } catch (error) {
      const reason = truncate(error instanceof Error ? error.message : String(error), 200);
      return new RefusedRequest(
        new WasmatrixError(
          ErrorCode.INVALID_REQUEST,
          `the body of ${name} is not a ${name} request (${reason}); send the protobuf message of wasmatrix.v1 with a client of the same major version`,
          { rpc: name, reason },
        ),
      );
    }
  };
}

function tooLarge(rpc: string, fields: string[]): WasmatrixError {
  const shown = fields.length === 0 ? "a 64-bit integer" : fields.map((f) => `'${f}'`).join(", ");
  return new WasmatrixError(
    ErrorCode.INVALID_REQUEST,
    `${rpc}: ${shown} is beyond ±${Number.MAX_SAFE_INTEGER} (2^53−1), the largest integer wasmatrix carries; sequence numbers, timestamps, sizes and fuel stay below it`,
    { rpc, field: fields[0] ?? "", fields, max: Number.MAX_SAFE_INTEGER },
  );
}

/** The paths (`limits.fuel`, `facts[2].seq`) where two decodings of the same bytes differ. */
function differingPaths(a: unknown, b: unknown, path: string): string[] {
  if (typeof a === "number" || typeof b === "number") return Object.is(a, b) ? [] : [path];
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.flatMap((item, i) => differingPaths(item, b[i], `${path}[${i}]`));
  }
  if (typeof a !== "object" || a === null || typeof b !== "object" || b === null) return [];
  if (ArrayBuffer.isView(a)) return [];
  const right = b as Record<string, unknown>;
  return Object.entries(a).flatMap(([key, value]) =>
    differingPaths(value, right[key], path === "" ? key : `${path}.${key}`),
  );
}

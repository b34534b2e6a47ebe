import { ErrorCode, WasmatrixError } from "@wasmatrix/core";
import type { GuestMemory } from "./memory.js";

/**
 * Arguments or environment in the preview1 layout: `*_sizes_get` reports the count and the size
 * of one buffer holding every string UTF-8 encoded and NUL-terminated; `*_get` fills that buffer
 * and an array of pointers into it, one u32 per string.
 */
export class StringTable {
  readonly count: number;
  /** Every string, each followed by its NUL, back to back. */
  readonly buffer: Uint8Array;
  /** Where each string starts within `buffer`. */
  private readonly offsets: number[];

  constructor(strings: readonly string[]) {
    const encoder = new TextEncoder();
    const encoded = strings.map((s) => encoder.encode(s));
    this.count = strings.length;
    this.buffer = new Uint8Array(encoded.reduce((sum, bytes) => sum + bytes.byteLength + 1, 0));
    this.offsets = [];
    let offset = 0;
    for (const bytes of encoded) {
      this.offsets.push(offset);
      this.buffer.set(bytes, offset);
      offset += bytes.byteLength + 1;
    }
  }

  writeSizes(memory: GuestMemory, countPtr: number, bufferSizePtr: number): void {
    memory.check(countPtr, 4);
    memory.check(bufferSizePtr, 4);
    memory.setU32(countPtr, this.count);
    memory.setU32(bufferSizePtr, this.buffer.byteLength);
  }

  /** Checks both regions before writing either, so a fault leaves memory untouched. */
  write(memory: GuestMemory, pointersPtr: number, bufferPtr: number): void {
    memory.check(pointersPtr, this.count * 4);
    memory.view8(bufferPtr, this.buffer.byteLength).set(this.buffer);
    this.offsets.forEach((offset, i) => {
      memory.setU32(pointersPtr + i * 4, bufferPtr + offset);
    });
  }
}

/**
 * C strings end at the first NUL, and `environ` entries at their first `=`: values that contain
 * them would reach the guest as something else, so they are refused up front.
 */
export function validateArgsAndEnv(args: readonly string[], env: Readonly<Record<string, string>>): void {
  args.forEach((arg, index) => {
    if (arg.includes("\0")) {
      throw new WasmatrixError(ErrorCode.INVALID_REQUEST, `argument ${index} contains a NUL character`, {
        index,
      });
    }
  });
  for (const [name, value] of Object.entries(env)) {
    if (name === "" || name.includes("=") || name.includes("\0")) {
      throw new WasmatrixError(
        ErrorCode.INVALID_REQUEST,
        `environment variable name '${name}' must be non-empty and contain neither '=' nor NUL`,
        { name },
      );
    }
    if (value.includes("\0")) {
      throw new WasmatrixError(
        ErrorCode.INVALID_REQUEST,
        `environment variable '${name}' has a value containing a NUL character`,
        { name },
      );
    }
  }
}

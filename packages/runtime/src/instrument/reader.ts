import { invalidModule } from "./errors.js";

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * A bounds-checked cursor over the input. `end` is the end of the enclosing section or function
 * body, so a length that points past it is caught where it is read, not as a RangeError later.
 * `what` names the thing being read, for the error message only.
 */
export class Reader {
  constructor(
    readonly bytes: Uint8Array,
    public pos: number,
    public end: number,
  ) {}

  get atEnd(): boolean {
    return this.pos >= this.end;
  }

  u8(what: string): number {
    if (this.pos >= this.end) throw this.truncated(what);
    return this.bytes[this.pos++]!;
  }

  /** Unsigned 32-bit LEB128, at most 5 bytes, unused high bits zero (as V8 requires). */
  u32(what: string): number {
    const bytes = this.bytes;
    const start = this.pos;
    let result = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (this.pos >= this.end) throw this.truncated(what, start);
      const byte = bytes[this.pos++]!;
      if (shift === 28) {
        if ((byte & 0xf0) !== 0) throw invalidModule(`${what}: LEB128 u32 is too long or too large`, start);
        return (result | (byte << 28)) >>> 0;
      }
      result |= (byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result >>> 0;
    }
    /* c8 ignore next */
    throw invalidModule(`${what}: malformed LEB128`, start);
  }

  /**
   * Skips a signed LEB128 of `bits` bits (32 or 64) and checks its length and sign extension.
   */
  skipSigned(bits: 32 | 64, what: string): void {
    const bytes = this.bytes;
    const start = this.pos;
    const maxBytes = Math.ceil(bits / 7);
    for (let i = 1; i <= maxBytes; i++) {
      if (this.pos >= this.end) throw this.truncated(what, start);
      const byte = bytes[this.pos++]!;
      if ((byte & 0x80) === 0) {
        if (i === maxBytes) {
          // The last byte holds the top (bits - 7 * (maxBytes - 1)) bits; the rest sign-extend them.
          const used = bits - 7 * (maxBytes - 1);
          const rest = byte & 0x7f & ~((1 << (used - 1)) - 1);
          if (rest !== 0 && rest !== (0x7f & ~((1 << (used - 1)) - 1))) {
            throw invalidModule(`${what}: LEB128 s${bits} has bad sign extension`, start);
          }
        }
        return;
      }
    }
    throw invalidModule(`${what}: LEB128 s${bits} is longer than ${maxBytes} bytes`, start);
  }

  /** Signed 33-bit LEB128 (block types), returned as a number. */
  s33(what: string): number {
    const bytes = this.bytes;
    const start = this.pos;
    let result = 0;
    let scale = 1;
    for (let i = 1; i <= 5; i++) {
      if (this.pos >= this.end) throw this.truncated(what, start);
      const byte = bytes[this.pos++]!;
      result += (byte & 0x7f) * scale;
      scale *= 128;
      if ((byte & 0x80) === 0) {
        if (i === 5 && (byte & 0x70) !== 0 && (byte & 0x70) !== 0x70) {
          throw invalidModule(`${what}: LEB128 s33 has bad sign extension`, start);
        }
        return (byte & 0x40) !== 0 ? result - scale : result;
      }
    }
    throw invalidModule(`${what}: LEB128 s33 is longer than 5 bytes`, start);
  }

  skip(length: number, what: string): void {
    if (length > this.end - this.pos) throw this.truncated(what);
    this.pos += length;
  }

  /** A length-prefixed UTF-8 name, decoded. */
  name(what: string): string {
    const length = this.u32(`${what} length`);
    const start = this.pos;
    this.skip(length, what);
    try {
      return utf8.decode(this.bytes.subarray(start, this.pos));
    } catch {
      throw invalidModule(`${what} is not valid UTF-8`, start);
    }
  }

  /** Skips a length-prefixed name without decoding it. */
  skipName(what: string): void {
    this.skip(this.u32(`${what} length`), what);
  }

  /** Fails unless the cursor stands exactly at `end`: a section or body with trailing bytes. */
  expectEnd(what: string): void {
    if (this.pos !== this.end) {
      throw invalidModule(`${what} has ${this.end - this.pos} unexpected trailing bytes`, this.pos);
    }
  }

  truncated(what: string, offset = this.pos): Error {
    return invalidModule(`unexpected end of ${what}`, offset);
  }
}

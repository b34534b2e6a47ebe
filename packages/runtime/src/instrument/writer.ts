/**
 * Runs shorter than this are copied byte by byte: `subarray` + `set` cost more for a few bytes
 * once optimised, but a byte loop is slow while the code is still interpreted (the first module
 * a process instruments), so the threshold stays low.
 */
const SMALL_COPY = 6;

/** A growable byte buffer. Unmodified runs of the input are copied in with `set`. */
export class Writer {
  buf: Uint8Array;
  len = 0;

  constructor(capacity = 256) {
    this.buf = new Uint8Array(Math.max(16, capacity));
  }

  reset(): void {
    this.len = 0;
  }

  ensure(extra: number): void {
    const need = this.len + extra;
    if (need <= this.buf.length) return;
    let capacity = this.buf.length * 2;
    while (capacity < need) capacity *= 2;
    const grown = new Uint8Array(capacity);
    grown.set(this.buf.subarray(0, this.len));
    this.buf = grown;
  }

  u8(byte: number): void {
    if (this.len >= this.buf.length) this.ensure(1);
    this.buf[this.len++] = byte;
  }

  u32(value: number): void {
    this.ensure(5);
    let v = value >>> 0;
    do {
      let byte = v & 0x7f;
      v >>>= 7;
      if (v !== 0) byte |= 0x80;
      this.buf[this.len++] = byte;
    } while (v !== 0);
  }

  /** Signed LEB128 of a non-negative safe integer (fits an i64.const immediate). */
  unsignedAsSigned(value: number): void {
    this.ensure(10);
    let v = value;
    for (;;) {
      const byte = v % 128;
      v = Math.floor(v / 128);
      if (v === 0 && (byte & 0x40) === 0) {
        this.buf[this.len++] = byte;
        return;
      }
      this.buf[this.len++] = byte | 0x80;
    }
  }

  /** Copies `source[start, end)`. */
  copy(source: Uint8Array, start: number, end: number): void {
    const length = end - start;
    if (length <= 0) return;
    this.ensure(length);
    const buf = this.buf;
    if (length < SMALL_COPY) {
      let at = this.len;
      for (let i = start; i < end; i++) buf[at++] = source[i]!;
    } else {
      buf.set(source.subarray(start, end), this.len);
    }
    this.len += length;
  }

  bytes(source: Uint8Array): void {
    this.ensure(source.length);
    this.buf.set(source, this.len);
    this.len += source.length;
  }

  /** Appends another writer's content, prefixed by its length (a section or function body). */
  sized(other: Writer): void {
    this.u32(other.len);
    this.copy(other.buf, 0, other.len);
  }

  name(text: string): void {
    const encoded = new TextEncoder().encode(text);
    this.u32(encoded.length);
    this.bytes(encoded);
  }

  toBytes(): Uint8Array<ArrayBuffer> {
    return this.buf.slice(0, this.len);
  }
}

/** Unsigned LEB128 of a u32 as a byte list, for modules built by hand in tests and benches. */
export function uleb(value: number): number[] {
  const writer = new Writer(8);
  writer.u32(value);
  return Array.from(writer.buf.subarray(0, writer.len));
}

/** Signed LEB128 of a non-negative safe integer as a byte list (an `i32.const` or `i64.const` immediate). */
export function sleb(value: number): number[] {
  const writer = new Writer(16);
  writer.unsignedAsSigned(value);
  return Array.from(writer.buf.subarray(0, writer.len));
}

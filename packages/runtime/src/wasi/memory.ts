/**
 * Raised inside a WASI call when the guest names memory it does not have. The call returns
 * `FAULT` instead: a RangeError escaping into the host would look like a host bug, and the guest
 * deserves an errno it can handle like any other.
 */
export class MemoryFault extends Error {
  constructor(
    readonly ptr: number,
    readonly length: number,
  ) {
    super(`guest memory access of ${length} bytes at ${ptr} is out of bounds`);
    this.name = "MemoryFault";
  }
}

/**
 * Bounds-checked little-endian access to a guest's linear memory. `refresh` must run at the start
 * of every WASI call: the guest may have grown its memory since the last one, which detaches the
 * old buffer (or, for shared memory, leaves a shorter one).
 */
export class GuestMemory {
  private buffer: ArrayBufferLike | null = null;
  private view = new DataView(new ArrayBuffer(0));
  bytes = new Uint8Array(0);

  constructor(private readonly getMemory: () => WebAssembly.Memory) {}

  refresh(): this {
    const buffer = this.getMemory().buffer;
    if (buffer !== this.buffer || buffer.byteLength !== this.bytes.byteLength) {
      this.buffer = buffer;
      this.view = new DataView(buffer);
      this.bytes = new Uint8Array(buffer);
    }
    return this;
  }

  /** Throws MemoryFault unless `[ptr, ptr + length)` lies inside memory. Doubles cannot overflow here. */
  check(ptr: number, length: number): void {
    if (ptr + length > this.bytes.byteLength) throw new MemoryFault(ptr, length);
  }

  u8(ptr: number): number {
    this.check(ptr, 1);
    return this.view.getUint8(ptr);
  }

  u16(ptr: number): number {
    this.check(ptr, 2);
    return this.view.getUint16(ptr, true);
  }

  u32(ptr: number): number {
    this.check(ptr, 4);
    return this.view.getUint32(ptr, true);
  }

  u64(ptr: number): bigint {
    this.check(ptr, 8);
    return this.view.getBigUint64(ptr, true);
  }

  setU8(ptr: number, value: number): void {
    this.check(ptr, 1);
    this.view.setUint8(ptr, value);
  }

  setU16(ptr: number, value: number): void {
    this.check(ptr, 2);
    this.view.setUint16(ptr, value, true);
  }

  setU32(ptr: number, value: number): void {
    this.check(ptr, 4);
    this.view.setUint32(ptr, value, true);
  }

  setU64(ptr: number, value: bigint): void {
    this.check(ptr, 8);
    this.view.setBigUint64(ptr, BigInt.asUintN(64, value), true);
  }

  /** A view into memory (not a copy); valid only until the guest runs again. */
  view8(ptr: number, length: number): Uint8Array {
    this.check(ptr, length);
    return this.bytes.subarray(ptr, ptr + length);
  }
}

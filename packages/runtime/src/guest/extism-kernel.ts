import { GuestAbiError } from "./wapc.js";

/**
 * The Extism kernel's memory: the blocks a plugin allocates through `extism:host/env.alloc` and
 * addresses by u64 offsets, kept in an arena beside (not inside) the plugin's linear memory, as
 * Extism's own kernel keeps them in a memory of its own.
 *
 * Offset 0 is never a block (the PDKs read it as "none"), so the arena starts at 8. Allocation
 * is a bump pointer with exact-size reuse of freed blocks, and `reset()` before every call frees
 * everything — that is what Extism's runtime does, and why a plugin can be called forever.
 * Growth past `maxBytes` fails the allocation (offset 0) and sets `limitHit`.
 */
export class ExtismKernel {
  private buffer: ArrayBuffer;
  private view: DataView;
  private bytes: Uint8Array;
  private top = ARENA_START;
  /** Live blocks: offset → length. */
  private readonly blocks = new Map<number, number>();
  /** Freed blocks by size, for reuse within the same call. */
  private readonly freeBySize = new Map<number, number[]>();
  limitHit = false;

  constructor(readonly maxBytes: number) {
    this.buffer = new ArrayBuffer(Math.min(INITIAL_BYTES, maxBytes));
    this.view = new DataView(this.buffer);
    this.bytes = new Uint8Array(this.buffer);
  }

  /** Bytes of the arena in use (its high-water mark this call). */
  get usedBytes(): number {
    return this.top;
  }

  /** Frees every block. The arena itself is kept (up to a modest size) for the next call. */
  reset(): void {
    this.top = ARENA_START;
    this.blocks.clear();
    this.freeBySize.clear();
    this.limitHit = false;
    if (this.buffer.byteLength > KEEP_BYTES) this.replaceBuffer(KEEP_BYTES, 0);
  }

  /** Allocates `size` bytes (zeroed); 0 when the arena's cap does not allow it. */
  alloc(size: number): number {
    if (!Number.isSafeInteger(size) || size < 0) return this.refuse();
    const reuse = this.freeBySize.get(size);
    const reused = reuse?.pop();
    if (reused !== undefined) {
      this.bytes.fill(0, reused, reused + size);
      this.blocks.set(reused, size);
      return reused;
    }
    // Zero-length blocks still get a distinct offset, as Extism's do.
    const footprint = Math.max(8, align8(size));
    const offset = this.top;
    const end = offset + footprint;
    if (end > this.maxBytes) return this.refuse();
    if (end > this.buffer.byteLength) {
      this.replaceBuffer(Math.min(this.maxBytes, Math.max(end, this.buffer.byteLength * 2)), this.top);
    }
    this.top = end;
    // A previous call's (or a freed block's) bytes must not show through.
    this.bytes.fill(0, offset, end);
    this.blocks.set(offset, size);
    return offset;
  }

  /** Stores `data` in a new block; 0 when the cap does not allow it. */
  store(data: Uint8Array): number {
    const offset = this.alloc(data.byteLength);
    if (offset !== 0) this.bytes.set(data, offset);
    return offset;
  }

  free(offset: number): void {
    const size = this.blocks.get(offset);
    if (size === undefined) return;
    this.blocks.delete(offset);
    const footprint = Math.max(8, align8(size));
    if (offset + footprint === this.top) {
      this.top = offset;
      return;
    }
    let list = this.freeBySize.get(size);
    if (list === undefined) {
      list = [];
      this.freeBySize.set(size, list);
    }
    list.push(offset);
  }

  /** A block's length, or 0 if `offset` starts no live block (Extism's answer). */
  length(offset: number): number {
    return this.blocks.get(offset) ?? 0;
  }

  /** The bytes of the block at `offset`, or null if there is none. */
  block(offset: number): Uint8Array | null {
    const size = this.blocks.get(offset);
    return size === undefined ? null : this.bytes.subarray(offset, offset + size);
  }

  /** `length` bytes from `offset`, which must lie within one live block. */
  range(offset: number, length: number, fn: string): Uint8Array {
    this.check(offset, length, fn);
    return this.bytes.subarray(offset, offset + length);
  }

  loadU8(offset: number): number {
    this.check(offset, 1, "load_u8");
    return this.bytes[offset]!;
  }

  loadU64(offset: number): bigint {
    this.check(offset, 8, "load_u64");
    return this.view.getBigUint64(offset, true);
  }

  storeU8(offset: number, value: number): void {
    this.check(offset, 1, "store_u8");
    this.bytes[offset] = value;
  }

  storeU64(offset: number, value: bigint): void {
    this.check(offset, 8, "store_u64");
    this.view.setBigUint64(offset, value, true);
  }

  /**
   * Loads and stores may touch any allocated byte (the PDKs walk blocks 8 bytes at a time), but
   * never the unallocated arena or the reserved offsets below 8: that is a broken plugin.
   */
  private check(offset: number, length: number, fn: string): void {
    if (offset < ARENA_START || offset + length > this.top) {
      throw new GuestAbiError(
        "memory_out_of_bounds",
        `plugin passed the kernel offset ${offset} (+${length}) to ${fn}, outside the memory it allocated`,
      );
    }
  }

  private refuse(): number {
    this.limitHit = true;
    return 0;
  }

  private replaceBuffer(byteLength: number, keep: number): void {
    const next = new ArrayBuffer(byteLength);
    new Uint8Array(next).set(this.bytes.subarray(0, Math.min(keep, byteLength)));
    this.buffer = next;
    this.view = new DataView(next);
    this.bytes = new Uint8Array(next);
  }
}

const ARENA_START = 8;
const INITIAL_BYTES = 64 * 1024;
/** Beyond this the arena is given back at the next reset, so one huge call does not pin it. */
const KEEP_BYTES = 1024 * 1024;

function align8(n: number): number {
  return Math.ceil(n / 8) * 8;
}

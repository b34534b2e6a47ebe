import { hex, invalidModule, unsupportedFeature } from "./errors.js";
import type { Reader } from "./reader.js";
import { isValueTypeByte, readRefType, readValueType, unknownType } from "./valtypes.js";

/** What the walker must do about a decoded instruction. */
export const PLAIN = 0;
/** block, if, try: opens a frame. */
export const OPEN = 1;
/** loop: opens a frame that is a metering site. */
export const LOOP = 2;
/** end: closes a frame (the last one closes the expression). */
export const END = 3;
/** delegate: closes a try frame. */
export const DELEGATE = 4;
/** call, return_call, ref.func: carries a function index (`Decoder.index`). */
export const FUNC_INDEX = 5;
/** memory.grow (of memory 0). */
export const MEMORY_GROW = 6;

// Immediate shapes of single-byte opcodes.
const NONE = 1;
const BLOCK = 2;
const LOOP_BLOCK = 3;
const END_OP = 4;
const U32 = 5;
const U32_U32 = 6;
const BR_TABLE = 7;
const CALL = 8;
const MEMARG = 9;
const MEMIDX = 10;
const GROW = 11;
const I32_CONST = 12;
const I64_CONST = 13;
const F32_CONST = 14;
const F64_CONST = 15;
const SELECT_T = 16;
const REF_NULL = 17;
const DELEGATE_OP = 18;
const PREFIX_FC = 19;
const PREFIX_FD = 20;
const PREFIX_FE = 21;
// Shapes of SIMD sub-opcodes.
const V128_BYTES = 22;
const LANE = 23;
const MEMARG_LANE = 24;

const SHAPE = new Uint8Array(256);
function shape(kind: number, ...opcodes: (number | [number, number])[]): void {
  for (const op of opcodes) {
    if (typeof op === "number") SHAPE[op] = kind;
    else for (let o = op[0]; o <= op[1]; o++) SHAPE[o] = kind;
  }
}
shape(NONE, 0x00, 0x01, 0x05, 0x0f, 0x19, 0x1a, 0x1b, [0x45, 0xc4], 0xd1);
shape(BLOCK, 0x02, 0x04, 0x06);
shape(LOOP_BLOCK, 0x03);
shape(END_OP, 0x0b);
shape(U32, 0x07, 0x08, 0x09, 0x0c, 0x0d, [0x20, 0x26]);
shape(U32_U32, 0x11, 0x13);
shape(BR_TABLE, 0x0e);
shape(CALL, 0x10, 0x12, 0xd2);
shape(MEMARG, [0x28, 0x3e]);
shape(MEMIDX, 0x3f);
shape(GROW, 0x40);
shape(I32_CONST, 0x41);
shape(I64_CONST, 0x42);
shape(F32_CONST, 0x43);
shape(F64_CONST, 0x44);
shape(SELECT_T, 0x1c);
shape(REF_NULL, 0xd0);
shape(DELEGATE_OP, 0x18);
shape(PREFIX_FC, 0xfc);
shape(PREFIX_FD, 0xfd);
shape(PREFIX_FE, 0xfe);

/**
 * Instructions the rewriter's scan can step over without the decoder, when their immediates are
 * short: QUICK_BARE ones have none, QUICK_LEB ones one LEB (local.get 3, i32.const 100, br 0…),
 * QUICK_MEMARG ones a memarg (i32.load offset=8). Most instructions of real code are of these.
 */
export const QUICK_BARE = 1;
export const QUICK_LEB = 2;
export const QUICK_MEMARG = 3;
export const QUICK = new Uint8Array(256);
for (let op = 0; op < 256; op++) {
  const kind = SHAPE[op];
  if (kind === NONE) QUICK[op] = QUICK_BARE;
  else if (kind === U32 || kind === I32_CONST || kind === I64_CONST) QUICK[op] = QUICK_LEB;
  else if (kind === MEMARG) QUICK[op] = QUICK_MEMARG;
}

/** Opcodes of proposals that V8 in Node 20 does not ship, named so that the error says which. */
const UNSUPPORTED = new Map<number, string>([
  [0x0a, "exnref exception handling (throw_ref)"],
  [0x1f, "exnref exception handling (try_table)"],
  [0x14, "typed function references (call_ref)"],
  [0x15, "typed function references (return_call_ref)"],
  [0xd3, "typed function references (ref.as_non_null)"],
  [0xd4, "typed function references (br_on_null)"],
  [0xd5, "typed function references (ref.eq)"],
  [0xd6, "typed function references (br_on_non_null)"],
  [0xfb, "GC instructions (0xFB prefix)"],
]);

/** SIMD (0xFD) sub-opcode immediates; anything else up to the relaxed-SIMD range has none. */
function simdShape(op: number): number {
  if (op <= 11 || op === 92 || op === 93) return MEMARG;
  if (op === 12 || op === 13) return V128_BYTES;
  if (op >= 21 && op <= 34) return LANE;
  if (op >= 84 && op <= 91) return MEMARG_LANE;
  return NONE;
}

/**
 * Decodes one instruction and skips its immediates. Only the immediates the rewriter needs are
 * kept: a function index in `index`. Everything else is checked for shape (bounds, LEB form) but
 * not for meaning: the input already passed `WebAssembly.validate`.
 */
export class Decoder {
  index = 0;

  decode(r: Reader): number {
    const at = r.pos;
    const opcode = r.u8("instruction");
    switch (SHAPE[opcode]) {
      case NONE:
        return PLAIN;
      case BLOCK:
        this.blockType(r);
        return OPEN;
      case LOOP_BLOCK:
        this.blockType(r);
        return LOOP;
      case END_OP:
        return END;
      case U32:
        r.u32("instruction immediate");
        return PLAIN;
      case U32_U32:
        r.u32("type index");
        r.u32("table index");
        return PLAIN;
      case BR_TABLE: {
        const count = r.u32("br_table length");
        for (let i = 0; i <= count; i++) r.u32("br_table label");
        return PLAIN;
      }
      case CALL:
        this.index = r.u32("function index");
        return FUNC_INDEX;
      case MEMARG:
        this.memarg(r);
        return PLAIN;
      case MEMIDX:
        this.memoryIndex(r);
        return PLAIN;
      case GROW:
        this.memoryIndex(r);
        return MEMORY_GROW;
      case I32_CONST:
        r.skipSigned(32, "i32.const");
        return PLAIN;
      case I64_CONST:
        r.skipSigned(64, "i64.const");
        return PLAIN;
      case F32_CONST:
        r.skip(4, "f32.const");
        return PLAIN;
      case F64_CONST:
        r.skip(8, "f64.const");
        return PLAIN;
      case SELECT_T: {
        const count = r.u32("select type count");
        for (let i = 0; i < count; i++) readValueType(r, "select type");
        return PLAIN;
      }
      case REF_NULL:
        readRefType(r, "ref.null type");
        return PLAIN;
      case DELEGATE_OP:
        r.u32("delegate depth");
        return DELEGATE;
      case PREFIX_FC:
        return this.bulk(r, at);
      case PREFIX_FD:
        return this.simd(r, at);
      case PREFIX_FE:
        return this.atomic(r, at);
      default: {
        const feature = UNSUPPORTED.get(opcode);
        if (feature !== undefined) throw unsupportedFeature(feature, at);
        throw invalidModule(`unknown opcode ${hex(opcode)}`, at);
      }
    }
  }

  private blockType(r: Reader): void {
    const bytes = r.bytes;
    // Nearly every block type is one byte: 0x40 (empty) or a value type.
    if (r.pos < r.end) {
      const byte = bytes[r.pos]!;
      if (byte === 0x40 || isValueTypeByte(byte)) {
        r.pos++;
        return;
      }
    }
    const at = r.pos;
    const type = r.s33("block type");
    if (type < 0) throw unknownType((type + 128) & 0x7f, at, "block type");
  }

  private memarg(r: Reader): void {
    const at = r.pos;
    const align = r.u32("memory alignment");
    if ((align & 0x40) !== 0) throw unsupportedFeature("multi-memory (memarg with a memory index)", at);
    r.u32("memory offset");
  }

  private memoryIndex(r: Reader): void {
    const at = r.pos;
    if (r.u32("memory index") !== 0) throw unsupportedFeature("multi-memory (memory index other than 0)", at);
  }

  private bulk(r: Reader, at: number): number {
    const op = r.u32("0xFC sub-opcode");
    if (op <= 7) return PLAIN;
    switch (op) {
      case 8: // memory.init
        r.u32("data index");
        this.memoryIndex(r);
        return PLAIN;
      case 10: // memory.copy
        this.memoryIndex(r);
        this.memoryIndex(r);
        return PLAIN;
      case 11: // memory.fill
        this.memoryIndex(r);
        return PLAIN;
      case 12: // table.init
      case 14: // table.copy
        r.u32("index");
        r.u32("table index");
        return PLAIN;
      case 9: // data.drop
      case 13: // elem.drop
      case 15: // table.grow
      case 16: // table.size
      case 17: // table.fill
        r.u32("index");
        return PLAIN;
      default:
        throw invalidModule(`unknown instruction 0xFC ${op}`, at);
    }
  }

  private simd(r: Reader, at: number): number {
    const op = r.u32("0xFD sub-opcode");
    // 0x100..0x113 is relaxed SIMD: no immediates.
    if (op > 0x113) throw invalidModule(`unknown instruction 0xFD ${op}`, at);
    switch (simdShape(op)) {
      case MEMARG:
        this.memarg(r);
        break;
      case MEMARG_LANE:
        this.memarg(r);
        r.u8("lane index");
        break;
      case V128_BYTES:
        r.skip(16, op === 12 ? "v128.const" : "i8x16.shuffle");
        break;
      case LANE:
        r.u8("lane index");
        break;
    }
    return PLAIN;
  }

  private atomic(r: Reader, at: number): number {
    const op = r.u32("0xFE sub-opcode");
    if (op === 0x03) {
      const flagAt = r.pos;
      if (r.u8("atomic.fence flags") !== 0) throw invalidModule("atomic.fence flags must be 0", flagAt);
      return PLAIN;
    }
    if (op <= 0x02 || (op >= 0x10 && op <= 0x4e)) {
      this.memarg(r);
      return PLAIN;
    }
    throw invalidModule(`unknown instruction 0xFE ${op}`, at);
  }
}

import { invalidModule } from "./errors.js";
import { type IndexPlan, shiftFunction } from "./index-plan.js";
import {
  DELEGATE,
  Decoder,
  END,
  FUNC_INDEX,
  LOOP,
  MEMORY_GROW,
  OPEN,
  QUICK,
  QUICK_BARE,
  QUICK_LEB,
  QUICK_MEMARG,
} from "./opcodes.js";
import type { Reader } from "./reader.js";
import { uleb, type Writer } from "./writer.js";

export type { IndexPlan } from "./index-plan.js";

const EDIT_CHARGE = 0;
const EDIT_FUNC_INDEX = 1;
const EDIT_GROW = 2;

// Opcodes of the inserted charge sequence.
const GLOBAL_GET = 0x23;
const GLOBAL_SET = 0x24;
const I64_CONST = 0x42;
const I64_SUB = 0x7d;
const I64_LT_S = 0x53;
const IF = 0x04;
const EMPTY_BLOCK = 0x40;
const CALL = 0x10;
const END_OP = 0x0b;

/**
 * Rewrites one expression (a function body's code or a constant expression) in two steps: a scan
 * that decodes every instruction once and records the few places to change, then a copy of the
 * input in runs between those places. Function bodies also get fuel charges and the memory.grow
 * redirect.
 *
 * Cost model: each original instruction (including `block`, `else`, `end`) counts 1 and belongs
 * to its innermost enclosing `loop` (a `loop` instruction itself to the scope around it, its
 * closing `end` to the loop), or to the function when it is in no loop. A charge site costs
 * max(1, instructions it owns): the function's at entry, a loop's at the head of every iteration.
 * The model is static, so a guest's fuel depends only on its code and its input.
 */
export class ExpressionRewriter {
  /** Charge sites inserted so far, over all functions. */
  meteredPoints = 0;

  private readonly decoder = new Decoder();
  private readonly editAt: number[] = [];
  private readonly editEnd: number[] = [];
  private readonly editKind: number[] = [];
  private readonly editValue: number[] = [];
  /** Cost per scope: [0] the function, [n] the n-th loop. */
  private readonly costs: number[] = [];
  /** Per open frame, the scope its instructions belong to. */
  private frames = new Int32Array(64);
  private readonly chargeHead: Uint8Array;
  private readonly chargeTail: Uint8Array;

  constructor(private readonly plan: IndexPlan) {
    const fuel = uleb(plan.fuelGlobal);
    // global.get $fuel; i64.const COST ...
    this.chargeHead = Uint8Array.of(GLOBAL_GET, ...fuel, I64_CONST);
    // ... i64.sub; global.set $fuel; global.get $fuel; i64.const 0; i64.lt_s; if; call $fuel; end
    this.chargeTail = Uint8Array.of(
      I64_SUB,
      GLOBAL_SET,
      ...fuel,
      GLOBAL_GET,
      ...fuel,
      I64_CONST,
      0,
      I64_LT_S,
      IF,
      EMPTY_BLOCK,
      CALL,
      ...uleb(plan.fuelFunction),
      END_OP,
    );
  }

  /**
   * Writes a function body: its size, the local declarations `[bodyStart, r.pos)` as they are,
   * then the expression `[r.pos, r.end)` metered and redirected.
   */
  functionBody(r: Reader, bodyStart: number, out: Writer): void {
    const start = r.pos;
    this.scan(r, true);
    if (r.pos !== r.end) {
      throw invalidModule(`function body continues ${r.end - r.pos} bytes past its final end`, r.pos);
    }
    // The size goes before the body, so it is computed from the edits rather than copied after.
    out.u32(start - bodyStart + this.emittedSize(start, r.pos, true));
    out.copy(r.bytes, bodyStart, start);
    this.emit(r.bytes, start, r.pos, out, true);
  }

  /** Copies a constant expression starting at `r.pos`, leaving `r.pos` after its `end`. */
  constant(r: Reader, out: Writer): void {
    const start = r.pos;
    this.scan(r, false);
    this.emit(r.bytes, start, r.pos, out, false);
  }

  private scan(r: Reader, metered: boolean): void {
    const { decoder, costs, plan } = this;
    const importedFunctions = plan.importedFunctions;
    const bytes = r.bytes;
    const end = r.end;
    this.editAt.length = 0;
    this.editEnd.length = 0;
    this.editKind.length = 0;
    this.editValue.length = 0;
    costs.length = 1;
    costs[0] = 0;
    let frames = this.frames;
    frames[0] = 0;
    let depth = 1;
    let scope = 0;
    let pos = r.pos;
    // Instructions seen in `scope` since its cost was last updated: kept in a local on the hot path.
    let count = 0;
    for (;;) {
      if (pos >= end) throw invalidModule("expression ends without its final end", pos);
      count++;
      // Inline fast path (see QUICK): a call per instruction costs a lot before the JIT warms up.
      const quick = QUICK[bytes[pos]!];
      if (quick === QUICK_BARE) {
        pos++;
        continue;
      }
      if (quick === QUICK_LEB) {
        // A LEB of one or two bytes is always in range and valid for any of these immediates.
        if (pos + 1 < end && bytes[pos + 1]! < 0x80) {
          pos += 2;
          continue;
        }
        if (pos + 2 < end && bytes[pos + 2]! < 0x80) {
          pos += 3;
          continue;
        }
      } else if (quick === QUICK_MEMARG) {
        // One-byte alignment without the multi-memory bit, one-byte offset.
        if (pos + 2 < end && bytes[pos + 1]! < 0x40 && bytes[pos + 2]! < 0x80) {
          pos += 3;
          continue;
        }
      }
      costs[scope]! += count;
      count = 0;
      const at = pos;
      r.pos = pos;
      const action = decoder.decode(r);
      pos = r.pos;
      switch (action) {
        case OPEN:
        case LOOP:
          if (depth === frames.length) {
            const grown = new Int32Array(frames.length * 2);
            grown.set(frames);
            this.frames = frames = grown;
          }
          if (action === LOOP) {
            scope = costs.length;
            costs.push(0);
            if (metered) this.edit(EDIT_CHARGE, pos, pos, scope);
          }
          frames[depth++] = scope;
          break;
        case END:
          if (--depth === 0) return;
          scope = frames[depth - 1]!;
          break;
        case DELEGATE:
          if (depth === 1) throw invalidModule("delegate outside a try block", at);
          scope = frames[--depth - 1]!;
          break;
        case FUNC_INDEX: {
          const index = decoder.index;
          if (index >= importedFunctions) {
            this.edit(EDIT_FUNC_INDEX, at + 1, pos, shiftFunction(plan, index, at + 1));
          }
          break;
        }
        case MEMORY_GROW:
          if (metered) this.edit(EDIT_GROW, at, pos, 0);
          break;
      }
    }
  }

  private edit(kind: number, at: number, end: number, value: number): void {
    this.editAt.push(at);
    this.editEnd.push(end);
    this.editKind.push(kind);
    this.editValue.push(value);
  }

  /** The size `emit` will write for the scanned expression `[start, end)`. */
  private emittedSize(start: number, end: number, metered: boolean): number {
    const { editAt, editEnd, editKind, editValue, costs } = this;
    let size = end - start;
    if (metered) size += this.chargeSize(costs[0]!);
    for (let i = 0; i < editAt.length; i++) {
      const replaced = editEnd[i]! - editAt[i]!;
      switch (editKind[i]) {
        case EDIT_CHARGE:
          size += this.chargeSize(costs[editValue[i]!]!);
          break;
        case EDIT_FUNC_INDEX:
          size += lebSize(editValue[i]!) - replaced;
          break;
        case EDIT_GROW:
          size += 1 + lebSize(this.plan.growFunction) - replaced;
          break;
      }
    }
    return size;
  }

  private emit(source: Uint8Array, start: number, end: number, out: Writer, metered: boolean): void {
    const { editAt, editEnd, editKind, editValue, costs } = this;
    if (metered) this.charge(out, costs[0]!);
    let cursor = start;
    for (let i = 0; i < editAt.length; i++) {
      out.copy(source, cursor, editAt[i]!);
      switch (editKind[i]) {
        case EDIT_CHARGE:
          this.charge(out, costs[editValue[i]!]!);
          break;
        case EDIT_FUNC_INDEX:
          out.u32(editValue[i]!);
          break;
        case EDIT_GROW:
          out.u8(CALL);
          out.u32(this.plan.growFunction);
          break;
      }
      cursor = editEnd[i]!;
    }
    out.copy(source, cursor, end);
  }

  private charge(out: Writer, cost: number): void {
    out.bytes(this.chargeHead);
    out.unsignedAsSigned(Math.max(1, cost));
    out.bytes(this.chargeTail);
    this.meteredPoints++;
  }

  private chargeSize(cost: number): number {
    // i64.const takes a signed LEB: 7 bits per byte, the last with its sign bit clear.
    let bytes = 1;
    for (let v = Math.max(1, cost); v >= 0x40; v = Math.floor(v / 128)) bytes++;
    return this.chargeHead.length + bytes + this.chargeTail.length;
  }
}

function lebSize(value: number): number {
  let bytes = 1;
  for (let v = value >>> 7; v !== 0; v >>>= 7) bytes++;
  return bytes;
}

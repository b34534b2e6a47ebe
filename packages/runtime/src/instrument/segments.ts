import { type RewriteContext, shiftFunction } from "./context.js";
import { invalidModule, unsupportedFeature } from "./errors.js";
import { Reader } from "./reader.js";
import { readRefType, readValueType } from "./valtypes.js";
import type { Writer } from "./writer.js";

/** Element segments, all eight flavours: function indices shifted, expressions rewritten. */
export function rewriteElements(ctx: RewriteContext, r: Reader, out: Writer): void {
  const { bytes, plan, expression } = ctx;
  const count = r.u32("element segment count");
  out.u32(count);
  for (let i = 0; i < count; i++) {
    const at = r.pos;
    const flags = r.u32("element segment flags");
    if (flags > 7) throw invalidModule(`invalid element segment flags ${flags}`, at);
    const active = (flags & 0x01) === 0;
    const usesExpressions = (flags & 0x04) !== 0;
    if (active && (flags & 0x02) !== 0) r.u32("element table index");
    out.copy(bytes, at, r.pos);
    if (active) expression.constant(r, out);
    if ((flags & 0x03) !== 0) {
      const kindAt = r.pos;
      if (usesExpressions) {
        readRefType(r, "element reference type");
      } else if (r.u8("element kind") !== 0) {
        throw invalidModule("element kind must be 0 (funcref)", kindAt);
      }
      out.copy(bytes, kindAt, r.pos);
    }
    const itemsAt = r.pos;
    const items = r.u32("element count");
    out.copy(bytes, itemsAt, r.pos);
    if (usesExpressions) {
      for (let j = 0; j < items; j++) expression.constant(r, out);
    } else {
      for (let j = 0; j < items; j++) {
        const at = r.pos;
        out.u32(shiftFunction(plan, r.u32("element function index"), at));
      }
    }
  }
  r.expectEnd("element section");
}

/** Data segments: offsets rewritten like any constant expression, contents copied as they are. */
export function rewriteData(ctx: RewriteContext, r: Reader, out: Writer): void {
  const { bytes, expression } = ctx;
  const countAt = r.pos;
  const count = r.u32("data segment count");
  const declared = ctx.decl.dataCount;
  if (declared !== null && declared !== count) {
    throw invalidModule(
      `data section has ${count} segments but the data count section says ${declared}`,
      countAt,
    );
  }
  out.u32(count);
  for (let i = 0; i < count; i++) {
    const at = r.pos;
    const flags = r.u32("data segment flags");
    if (flags > 2) throw invalidModule(`invalid data segment flags ${flags}`, at);
    if (flags === 2) {
      const memoryAt = r.pos;
      if (r.u32("data memory index") !== 0) {
        throw unsupportedFeature("multi-memory (data segment for a memory other than 0)", memoryAt);
      }
    }
    out.copy(bytes, at, r.pos);
    if (flags !== 1) expression.constant(r, out);
    const lengthAt = r.pos;
    r.skip(r.u32("data segment length"), "data segment");
    out.copy(bytes, lengthAt, r.pos);
  }
  r.expectEnd("data section");
}

/** Function bodies: local declarations copied, code metered and redirected, sizes recomputed. */
export function rewriteCode(ctx: RewriteContext, r: Reader, out: Writer): void {
  const { bytes, decl, expression } = ctx;
  const countAt = r.pos;
  const count = r.u32("function body count");
  if (count !== decl.functionCount) {
    throw invalidModule(
      `code section has ${count} function bodies but the function section declares ${decl.functionCount}`,
      countAt,
    );
  }
  out.u32(count);
  for (let i = 0; i < count; i++) {
    const size = r.u32("function body size");
    const start = r.pos;
    r.skip(size, `function body ${i}`);
    const b = new Reader(bytes, start, r.pos);
    for (let groups = b.u32("local declaration count"); groups > 0; groups--) {
      b.u32("local count");
      readValueType(b, "local type");
    }
    expression.functionBody(b, start, out);
  }
  r.expectEnd("code section");
}

import { WasmatrixError } from "@wasmatrix/core";
import { shiftFunction } from "./context.js";
import type { IndexPlan } from "./expression.js";
import { Reader } from "./reader.js";
import { Writer } from "./writer.js";

const MODULE_NAME = 0;
const FUNCTION_NAMES = 1;
const LOCAL_NAMES = 2;

/**
 * Rewrites the content of a "name" custom section (after its own name) so that debuggers and
 * V8's stack traces still name the right functions. The module name is kept, function and local
 * names are re-indexed, and every other subsection (labels, types, globals, …) is dropped rather
 * than risk naming the wrong thing. Returns null when the section does not parse: it is then
 * dropped whole, since names are advisory and V8 itself ignores a broken name section.
 */
export function rewriteNames(bytes: Uint8Array, start: number, end: number, plan: IndexPlan): Writer | null {
  const out = new Writer(end - start + 16);
  const sub = new Writer(256);
  const r = new Reader(bytes, start, end);
  try {
    while (!r.atEnd) {
      const subStart = r.pos;
      const id = r.u8("name subsection id");
      const size = r.u32("name subsection size");
      const contentStart = r.pos;
      r.skip(size, "name subsection");
      const s = new Reader(bytes, contentStart, r.pos);
      if (id === MODULE_NAME) {
        out.copy(bytes, subStart, r.pos);
        continue;
      }
      if (id !== FUNCTION_NAMES && id !== LOCAL_NAMES) continue;
      sub.reset();
      const count = s.u32("name count");
      sub.u32(count);
      for (let i = 0; i < count; i++) {
        const at = s.pos;
        sub.u32(shiftFunction(plan, s.u32("function index"), at));
        const entryStart = s.pos;
        if (id === FUNCTION_NAMES) {
          s.skipName("function name");
        } else {
          for (let locals = s.u32("local name count"); locals > 0; locals--) {
            s.u32("local index");
            s.skipName("local name");
          }
        }
        sub.copy(bytes, entryStart, s.pos);
      }
      s.expectEnd("name subsection");
      out.u8(id);
      out.sized(sub);
    }
  } catch (error) {
    if (WasmatrixError.is(error)) return null;
    throw error;
  }
  return out;
}

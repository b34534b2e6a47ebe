import { FUEL_GLOBAL_EXPORT, FUEL_IMPORT, GROW_IMPORT, MEMORY_EXPORT } from "./abi.js";
import { type RewriteContext, shiftFunction } from "./context.js";
import { type Declarations, readDeclarations, readGlobalType } from "./declarations.js";
import { invalidModule } from "./errors.js";
import { ExpressionRewriter, type IndexPlan } from "./expression.js";
import type { ModuleInfo } from "./info.js";
import { rewriteNames } from "./names.js";
import { Reader } from "./reader.js";
import {
  CODE,
  CUSTOM,
  contentReader,
  DATA,
  ELEMENT,
  EXPORT,
  GLOBAL,
  HEADER,
  IMPORT,
  MEMORY,
  rankOf,
  readSections,
  START,
  TYPE,
} from "./sections.js";
import { rewriteCode, rewriteData, rewriteElements } from "./segments.js";
import { Writer } from "./writer.js";

/** The largest memory a 32-bit wasm memory can declare: 4 GiB in 64 KiB pages. */
const MAX_PAGES_32 = 65536;
const FUEL_TYPE = Uint8Array.of(0x60, 0x00, 0x00);
const GROW_TYPE = Uint8Array.of(0x60, 0x01, 0x7f, 0x01, 0x7f);
/** `(global (mut i64) (i64.const 0))` */
const FUEL_GLOBAL = Uint8Array.of(0x7e, 0x01, 0x42, 0x00, 0x0b);
const NAME_SECTION = "name";
const EXPORT_MEMORY = 2;
const EXPORT_GLOBAL = 3;
const IMPORT_FUNC = 0;

/** Instruments a module; see index.ts for what that means. */
export function rewriteModule(
  bytes: Uint8Array,
  maxMemoryPages: number,
): { bytes: Uint8Array<ArrayBuffer>; info: ModuleInfo } {
  const sections = readSections(bytes);
  const decl = readDeclarations(bytes, sections);
  const plan: IndexPlan = {
    importedFunctions: decl.importedFunctions,
    totalFunctions: decl.importedFunctions + decl.functionCount,
    functionShift: 2,
    fuelFunction: decl.importedFunctions,
    growFunction: decl.importedFunctions + 1,
    fuelGlobal: decl.importedGlobals + decl.definedGlobals,
  };
  const ctx: RewriteContext = { bytes, decl, plan, expression: new ExpressionRewriter(plan) };
  const newTypes: Uint8Array[] = [];
  const typeOf = (existing: number, type: Uint8Array) => {
    if (existing >= 0) return existing;
    newTypes.push(type);
    return decl.typeCount + newTypes.length - 1;
  };
  const fuelType = typeOf(decl.fuelType, FUEL_TYPE);
  const growType = typeOf(decl.growType, GROW_TYPE);
  const memory = clampMemory(decl, maxMemoryPages);

  const out = new Writer(bytes.length + (bytes.length >> 3) + 256);
  let largest = 0;
  for (const section of sections) largest = Math.max(largest, section.end - section.contentStart);
  // Sized for the largest section (usually code) plus what the charges add, so it never grows.
  const content = new Writer(largest + (largest >> 2) + 256);
  out.bytes(HEADER);
  const emit = (id: number, build: (w: Writer) => void) => {
    content.reset();
    build(content);
    out.u8(id);
    out.sized(content);
  };

  // Sections the instrumentation needs, created where the module has none.
  const missing = new Map<number, (w: Writer) => void>([
    [TYPE, (w) => appendTypes(w, 0, newTypes)],
    [IMPORT, (w) => appendImports(w, 0, fuelType, growType)],
    [GLOBAL, (w) => appendGlobal(w, 0)],
    [EXPORT, (w) => appendExports(w, 0, plan, memory !== null && !memory.imported)],
  ]);
  const createMissingBefore = (rank: number) => {
    for (const [id, build] of missing) {
      if (rankOf(id) < rank) {
        emit(id, build);
        missing.delete(id);
      }
    }
  };

  let sawCode = false;
  let sawData = false;
  for (const section of sections) {
    const r = contentReader(bytes, section);
    if (section.id !== CUSTOM) {
      createMissingBefore(rankOf(section.id));
      missing.delete(section.id);
    }
    switch (section.id) {
      case TYPE:
        emit(TYPE, (w) => appendTypes(w, r.u32("type count"), newTypes, r));
        break;
      case IMPORT:
        emit(IMPORT, (w) => appendImports(w, r.u32("import count"), fuelType, growType, r));
        break;
      case MEMORY:
        if (memory === null || memory.imported) out.copy(bytes, section.start, section.end);
        else emit(MEMORY, (w) => writeMemory(w, memory));
        break;
      case GLOBAL:
        emit(GLOBAL, (w) => rewriteGlobals(ctx, r, w));
        break;
      case EXPORT:
        emit(EXPORT, (w) => rewriteExports(ctx, r, w, memory !== null && !memory.imported));
        break;
      case START:
        emit(START, (w) => w.u32(shiftFunction(plan, r.u32("start function index"), section.contentStart)));
        break;
      case ELEMENT:
        emit(ELEMENT, (w) => rewriteElements(ctx, r, w));
        break;
      case CODE:
        sawCode = true;
        emit(CODE, (w) => rewriteCode(ctx, r, w));
        break;
      case DATA:
        sawData = true;
        emit(DATA, (w) => rewriteData(ctx, r, w));
        break;
      case CUSTOM:
        copyCustom(ctx, r, section.start, out);
        break;
      default:
        out.copy(bytes, section.start, section.end);
    }
  }
  createMissingBefore(Number.POSITIVE_INFINITY);
  if (!sawCode && decl.functionCount > 0) {
    throw invalidModule(
      `function section declares ${decl.functionCount} functions but there is no code section`,
      bytes.length,
    );
  }

  if (!sawData && (decl.dataCount ?? 0) > 0) {
    throw invalidModule(
      `data count section says ${decl.dataCount} segments but there is no data section`,
      bytes.length,
    );
  }

  const info: ModuleInfo = {
    imports: decl.imports,
    exports: decl.exports,
    memory:
      memory === null
        ? null
        : {
            imported: memory.imported,
            minPages: memory.minPages,
            maxPages: memory.outputMaxPages,
            declaredMaxPages: memory.maxPages,
          },
    functionCount: decl.functionCount,
    meteredPoints: ctx.expression.meteredPoints,
    hasStart: decl.hasStart,
  };
  return { bytes: out.toBytes(), info };
}

type ClampedMemory = NonNullable<Declarations["memory"]> & { outputMaxPages: number | null };

/**
 * A defined memory gets a maximum no larger than the runtime's ceiling, so the engine can reserve
 * its address space up front; the per-instance cap is enforced by the memory_grow import. An
 * imported memory is created by the host, which sets its maximum itself.
 */
function clampMemory(decl: Declarations, maxMemoryPages: number): ClampedMemory | null {
  const memory = decl.memory;
  if (memory === null) return null;
  if (memory.imported) return { ...memory, outputMaxPages: memory.maxPages };
  const ceiling = Math.min(maxMemoryPages, MAX_PAGES_32);
  const max = Math.min(memory.maxPages ?? ceiling, ceiling);
  return { ...memory, outputMaxPages: Math.max(memory.minPages, max) };
}

function writeMemory(w: Writer, memory: ClampedMemory): void {
  w.u32(1);
  w.u8(0x01 | (memory.shared ? 0x02 : 0));
  w.u32(memory.minPages);
  w.u32(memory.outputMaxPages!);
}

/** The existing entries (the rest of `r`, if any) with the new ones after them. */
function appendTypes(w: Writer, count: number, types: Uint8Array[], r?: Reader): void {
  w.u32(count + types.length);
  if (r !== undefined) w.copy(r.bytes, r.pos, r.end);
  for (const type of types) w.bytes(type);
}

function appendImports(w: Writer, count: number, fuelType: number, growType: number, r?: Reader): void {
  w.u32(count + 2);
  if (r !== undefined) w.copy(r.bytes, r.pos, r.end);
  for (const [entry, type] of [
    [FUEL_IMPORT, fuelType],
    [GROW_IMPORT, growType],
  ] as const) {
    w.name(entry.module);
    w.name(entry.name);
    w.u8(IMPORT_FUNC);
    w.u32(type);
  }
}

function appendGlobal(w: Writer, count: number): void {
  w.u32(count + 1);
  w.bytes(FUEL_GLOBAL);
}

function rewriteGlobals(ctx: RewriteContext, r: Reader, w: Writer): void {
  const count = r.u32("global count");
  w.u32(count + 1);
  for (let i = 0; i < count; i++) {
    const start = r.pos;
    readGlobalType(r);
    w.copy(ctx.bytes, start, r.pos);
    ctx.expression.constant(r, w);
  }
  r.expectEnd("global section");
  w.bytes(FUEL_GLOBAL);
}

function appendExports(w: Writer, count: number, plan: IndexPlan, exportMemory: boolean, r?: Reader): void {
  w.u32(count + 1 + (exportMemory ? 1 : 0));
  if (r !== undefined) w.copy(r.bytes, r.pos, r.end);
  if (exportMemory) {
    w.name(MEMORY_EXPORT);
    w.u8(EXPORT_MEMORY);
    w.u32(0);
  }
  w.name(FUEL_GLOBAL_EXPORT);
  w.u8(EXPORT_GLOBAL);
  w.u32(plan.fuelGlobal);
}

function rewriteExports(ctx: RewriteContext, r: Reader, w: Writer, exportMemory: boolean): void {
  const count = r.u32("export count");
  const entries = new Writer(r.end - r.pos + 16);
  for (let i = 0; i < count; i++) {
    const start = r.pos;
    r.skipName("export name");
    const kind = r.u8("export kind");
    entries.copy(ctx.bytes, start, r.pos);
    const indexAt = r.pos;
    const index = r.u32("export index");
    if (kind === IMPORT_FUNC) entries.u32(shiftFunction(ctx.plan, index, indexAt));
    else entries.copy(ctx.bytes, indexAt, r.pos);
  }
  r.expectEnd("export section");
  appendExports(w, count, ctx.plan, exportMemory, new Reader(entries.buf, 0, entries.len));
}

/** Custom sections are copied as they are, except "name", whose function indices moved. */
function copyCustom(ctx: RewriteContext, r: Reader, sectionStart: number, out: Writer): void {
  const nameStart = r.pos;
  // V8 refuses a custom section whose name is missing or not UTF-8, so we do too.
  const name = r.name("custom section name");
  if (name !== NAME_SECTION) {
    out.copy(ctx.bytes, sectionStart, r.end);
    return;
  }
  const names = rewriteNames(ctx.bytes, r.pos, r.end, ctx.plan);
  if (names === null) return;
  const header = new Writer(16);
  header.copy(ctx.bytes, nameStart, r.pos);
  out.u8(CUSTOM);
  out.u32(header.len + names.len);
  out.copy(header.buf, 0, header.len);
  out.copy(names.buf, 0, names.len);
}

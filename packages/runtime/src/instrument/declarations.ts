import { FUEL_GLOBAL_EXPORT, FUEL_IMPORT, MEMORY_EXPORT } from "./abi.js";
import { hex, invalidModule, unsupportedFeature } from "./errors.js";
import { EXTERNAL_KINDS, type ModuleInfo } from "./info.js";
import type { Reader } from "./reader.js";
import {
  contentReader,
  DATA_COUNT,
  EXPORT,
  FUNCTION,
  GLOBAL,
  IMPORT,
  MEMORY,
  type Section,
  START,
  TABLE,
  TAG,
  TYPE,
} from "./sections.js";
import { I32, readRefType, readValueType } from "./valtypes.js";

export interface MemoryType {
  imported: boolean;
  /** Offset of the limits' flags byte. */
  at: number;
  shared: boolean;
  minPages: number;
  maxPages: number | null;
}

/** What the module declares before its code: the facts every rewritten section depends on. */
export interface Declarations {
  typeCount: number;
  /** Index of an existing `() -> ()` type, or -1. */
  fuelType: number;
  /** Index of an existing `(i32) -> i32` type, or -1. */
  growType: number;
  imports: ModuleInfo["imports"];
  importedFunctions: number;
  importedGlobals: number;
  functionCount: number;
  definedGlobals: number;
  memory: MemoryType | null;
  exports: ModuleInfo["exports"];
  hasStart: boolean;
  /** The data count section's count, or null without one. */
  dataCount: number | null;
}

const FUNC_FORM = 0x60;
/** Type-section forms of the GC proposal: rec, sub final, sub, struct, array. */
const GC_FORMS = new Set([0x4e, 0x4f, 0x50, 0x5f, 0x5e]);
const RESERVED_EXPORTS = new Set<string>([FUEL_GLOBAL_EXPORT, MEMORY_EXPORT]);

/** Reads the declaring sections (types to exports, and start) of a module split into sections. */
export function readDeclarations(bytes: Uint8Array, sections: readonly Section[]): Declarations {
  const decl: Declarations = {
    typeCount: 0,
    fuelType: -1,
    growType: -1,
    imports: [],
    importedFunctions: 0,
    importedGlobals: 0,
    functionCount: 0,
    definedGlobals: 0,
    memory: null,
    exports: [],
    hasStart: false,
    dataCount: null,
  };
  for (const section of sections) {
    const r = contentReader(bytes, section);
    switch (section.id) {
      case TYPE:
        readTypes(r, decl);
        break;
      case IMPORT:
        readImports(r, decl);
        break;
      case FUNCTION:
        decl.functionCount = r.u32("function count");
        for (let i = 0; i < decl.functionCount; i++) r.u32("function type index");
        r.expectEnd("function section");
        break;
      case TABLE:
        for (let i = r.u32("table count"); i > 0; i--) readTableType(r);
        r.expectEnd("table section");
        break;
      case MEMORY:
        for (let i = r.u32("memory count"); i > 0; i--) setMemory(decl, readMemoryType(r, false));
        r.expectEnd("memory section");
        break;
      case TAG:
        for (let i = r.u32("tag count"); i > 0; i--) readTagType(r);
        r.expectEnd("tag section");
        break;
      case GLOBAL:
        decl.definedGlobals = r.u32("global count");
        break;
      case EXPORT:
        readExports(r, decl);
        break;
      case START:
        r.u32("start function index");
        r.expectEnd("start section");
        decl.hasStart = true;
        break;
      case DATA_COUNT:
        decl.dataCount = r.u32("data count");
        r.expectEnd("data count section");
        break;
    }
  }
  return decl;
}

function readTypes(r: Reader, decl: Declarations): void {
  decl.typeCount = r.u32("type count");
  for (let index = 0; index < decl.typeCount; index++) {
    const at = r.pos;
    const form = r.u8("type form");
    if (form !== FUNC_FORM) {
      if (GC_FORMS.has(form)) throw unsupportedFeature("GC types (struct, array, rec, sub)", at);
      throw invalidModule(`unknown type form ${hex(form)}`, at);
    }
    const params = r.u32("parameter count");
    let param = -1;
    for (let i = 0; i < params; i++) param = readValueType(r, "parameter type");
    const results = r.u32("result count");
    let result = -1;
    for (let i = 0; i < results; i++) result = readValueType(r, "result type");
    if (params === 0 && results === 0 && decl.fuelType < 0) decl.fuelType = index;
    if (params === 1 && results === 1 && param === I32 && result === I32 && decl.growType < 0) {
      decl.growType = index;
    }
  }
  r.expectEnd("type section");
}

function readImports(r: Reader, decl: Declarations): void {
  for (let i = r.u32("import count"); i > 0; i--) {
    const at = r.pos;
    const module = r.name("import module name");
    const name = r.name("import name");
    if (module === FUEL_IMPORT.module) {
      throw invalidModule(
        `module imports '${module}.${name}', but the '${module}' namespace is reserved for instrumentation`,
        at,
        { importModule: module, importName: name },
      );
    }
    const kindAt = r.pos;
    const kind = r.u8("import kind");
    switch (kind) {
      case 0:
        r.u32("function type index");
        decl.importedFunctions++;
        break;
      case 1:
        readTableType(r);
        break;
      case 2:
        setMemory(decl, readMemoryType(r, true));
        break;
      case 3:
        readGlobalType(r);
        decl.importedGlobals++;
        break;
      case 4:
        readTagType(r);
        break;
      default:
        throw invalidModule(`unknown import kind ${hex(kind)}`, kindAt);
    }
    decl.imports.push({ module, name, kind: EXTERNAL_KINDS[kind]! });
  }
  r.expectEnd("import section");
}

function readExports(r: Reader, decl: Declarations): void {
  const seen = new Set<string>();
  for (let i = r.u32("export count"); i > 0; i--) {
    const at = r.pos;
    const name = r.name("export name");
    if (RESERVED_EXPORTS.has(name)) {
      throw invalidModule(`module exports '${name}', a name reserved for instrumentation`, at, {
        exportName: name,
      });
    }
    if (seen.has(name)) throw invalidModule(`duplicate export '${name}'`, at, { exportName: name });
    seen.add(name);
    const kindAt = r.pos;
    const kind = r.u8("export kind");
    if (kind >= EXTERNAL_KINDS.length) throw invalidModule(`unknown export kind ${hex(kind)}`, kindAt);
    r.u32("export index");
    decl.exports.push({ name, kind: EXTERNAL_KINDS[kind]! });
  }
  r.expectEnd("export section");
}

function setMemory(decl: Declarations, memory: MemoryType): void {
  if (decl.memory !== null) throw unsupportedFeature("multi-memory (more than one memory)", memory.at);
  decl.memory = memory;
}

/** Memory limits: flags (bit 0 has maximum, bit 1 shared), minimum, maximum, in pages. */
export function readMemoryType(r: Reader, imported: boolean): MemoryType {
  const at = r.pos;
  const flags = r.u8("memory limits flags");
  if ((flags & 0x04) !== 0) throw unsupportedFeature("memory64", at);
  if ((flags & 0x08) !== 0) throw unsupportedFeature("custom page sizes", at);
  if ((flags & ~0x03) !== 0) throw invalidModule(`invalid memory limits flags ${hex(flags)}`, at);
  const minPages = r.u32("memory minimum");
  const maxPages = (flags & 0x01) !== 0 ? r.u32("memory maximum") : null;
  return { imported, at, shared: (flags & 0x02) !== 0, minPages, maxPages };
}

function readTableType(r: Reader): void {
  if (r.pos < r.end && r.bytes[r.pos] === 0x40) {
    throw unsupportedFeature("table initializer expressions (typed function references)", r.pos);
  }
  readRefType(r, "table element type");
  const at = r.pos;
  const flags = r.u8("table limits flags");
  if ((flags & 0x04) !== 0) throw unsupportedFeature("table64 (memory64)", at);
  if ((flags & ~0x01) !== 0) throw invalidModule(`invalid table limits flags ${hex(flags)}`, at);
  r.u32("table minimum");
  if (flags === 1) r.u32("table maximum");
}

export function readGlobalType(r: Reader): void {
  readValueType(r, "global type");
  const at = r.pos;
  const mutability = r.u8("global mutability");
  if (mutability > 1) throw invalidModule(`invalid global mutability ${hex(mutability)}`, at);
}

function readTagType(r: Reader): void {
  const at = r.pos;
  if (r.u8("tag attribute") !== 0) throw invalidModule("tag attribute must be 0 (exception)", at);
  r.u32("tag type index");
}

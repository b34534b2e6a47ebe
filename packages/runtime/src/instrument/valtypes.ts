import { hex, invalidModule, unsupportedFeature } from "./errors.js";
import type { Reader } from "./reader.js";

export const I32 = 0x7f;
export const I64 = 0x7e;
export const FUNCREF = 0x70;
export const EXTERNREF = 0x6f;

/** Value types of the proposals Node 20's V8 ships: numbers, v128, funcref, externref. */
const VALUE_TYPES = new Set([0x7f, 0x7e, 0x7d, 0x7c, 0x7b, FUNCREF, EXTERNREF]);
/** Reference types of typed function references and GC (ref, ref null, the abstract heap types). */
const GC_REF_TYPES = new Set([0x64, 0x63, 0x6e, 0x6d, 0x6c, 0x6b, 0x6a, 0x71, 0x72, 0x73, 0x74]);

export function readValueType(r: Reader, what: string): number {
  const at = r.pos;
  const type = r.u8(what);
  if (VALUE_TYPES.has(type)) return type;
  throw unknownType(type, at, what);
}

export function readRefType(r: Reader, what: string): number {
  const at = r.pos;
  const type = r.u8(what);
  if (type === FUNCREF || type === EXTERNREF) return type;
  throw unknownType(type, at, what);
}

export function isValueTypeByte(type: number): boolean {
  return VALUE_TYPES.has(type);
}

export function unknownType(type: number, at: number, what: string): Error {
  if (type === 0x69) return unsupportedFeature("exnref exception handling", at);
  if (GC_REF_TYPES.has(type)) return unsupportedFeature("GC / typed function reference types", at);
  return invalidModule(`unknown ${what} ${hex(type)}`, at);
}

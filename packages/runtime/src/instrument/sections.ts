import { invalidModule } from "./errors.js";
import { Reader } from "./reader.js";

export const CUSTOM = 0;
export const TYPE = 1;
export const IMPORT = 2;
export const FUNCTION = 3;
export const TABLE = 4;
export const MEMORY = 5;
export const GLOBAL = 6;
export const EXPORT = 7;
export const START = 8;
export const ELEMENT = 9;
export const CODE = 10;
export const DATA = 11;
export const DATA_COUNT = 12;
export const TAG = 13;

/** Where each known section must stand: the spec's order, with tags between memory and globals. */
const RANK: Readonly<Record<number, number>> = {
  [TYPE]: 1,
  [IMPORT]: 2,
  [FUNCTION]: 3,
  [TABLE]: 4,
  [MEMORY]: 5,
  [TAG]: 6,
  [GLOBAL]: 7,
  [EXPORT]: 8,
  [START]: 9,
  [ELEMENT]: 10,
  [DATA_COUNT]: 11,
  [CODE]: 12,
  [DATA]: 13,
};

const NAMES: Readonly<Record<number, string>> = {
  [CUSTOM]: "custom",
  [TYPE]: "type",
  [IMPORT]: "import",
  [FUNCTION]: "function",
  [TABLE]: "table",
  [MEMORY]: "memory",
  [GLOBAL]: "global",
  [EXPORT]: "export",
  [START]: "start",
  [ELEMENT]: "element",
  [CODE]: "code",
  [DATA]: "data",
  [DATA_COUNT]: "data count",
  [TAG]: "tag",
};

export function rankOf(id: number): number {
  return RANK[id] ?? 0;
}

export function sectionName(id: number): string {
  return NAMES[id] ?? `#${id}`;
}

export interface Section {
  id: number;
  /** Offset of the id byte: `[start, end)` is the whole section as it stands in the input. */
  start: number;
  /** Offset of the content, after the size. */
  contentStart: number;
  end: number;
}

export const HEADER = Uint8Array.of(0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00);

/** Checks the header and splits the module into sections, checking ids, sizes and order. */
export function readSections(bytes: Uint8Array): Section[] {
  if (bytes.length < HEADER.length) {
    throw invalidModule(`module is truncated: ${bytes.length} bytes, shorter than the 8-byte header`, 0);
  }
  for (let i = 0; i < 4; i++) {
    if (bytes[i] !== HEADER[i]) throw invalidModule("bad magic number (expected \\0asm)", i);
  }
  for (let i = 4; i < 8; i++) {
    if (bytes[i] !== HEADER[i]) throw invalidModule("unsupported binary version (expected 1)", 4);
  }
  const sections: Section[] = [];
  const r = new Reader(bytes, HEADER.length, bytes.length);
  let lastRank = 0;
  while (!r.atEnd) {
    const start = r.pos;
    const id = r.u8("section id");
    if (id !== CUSTOM) {
      const rank = rankOf(id);
      if (rank === 0) throw invalidModule(`unknown section id ${id}`, start);
      if (rank <= lastRank) {
        throw invalidModule(`${sectionName(id)} section is out of order or repeated`, start, {
          sectionId: id,
        });
      }
      lastRank = rank;
    }
    const size = r.u32(`${sectionName(id)} section size`);
    const contentStart = r.pos;
    if (size > bytes.length - contentStart) {
      throw invalidModule(
        `${sectionName(id)} section of ${size} bytes runs past the end of the module (${bytes.length - contentStart} left)`,
        start,
        { sectionId: id },
      );
    }
    r.pos = contentStart + size;
    sections.push({ id, start, contentStart, end: r.pos });
  }
  return sections;
}

export function contentReader(bytes: Uint8Array, section: Section): Reader {
  return new Reader(bytes, section.contentStart, section.end);
}

/**
 * A module of about 1 MB of code, made distinct on demand: V8 keeps compiled modules by their
 * bytes for the life of the process, so compiling the same bytes twice measures a hash lookup
 * (~2 µs), not a compile. Each variant differs only in an 8-byte data segment.
 */

import { sleb, uleb } from "../packages/runtime/src/instrument/writer.js";

const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, content: number[]): number[] => [id, ...uleb(content.length), ...content];
const name = (s: string): number[] => [...uleb(s.length), ...[...s].map((c) => c.charCodeAt(0))];

/**
 * One body of about 340 bytes: a loop of straight-line arithmetic, a call and a memory.grow, so
 * compile and instrumentation see every common shape (loop heads, calls, grows to redirect).
 */
function body(index: number, functions: number): number[] {
  const code = [0x02, 0x40, 0x03, 0x40, 0x20, 0x00, 0x45, 0x0d, 0x01];
  for (let k = 0; k < 40; k++)
    code.push(0x20, 0x02, 0x41, ...sleb(12345 + k * 977 + index), 0x6a, 0x21, 0x02);
  code.push(0x20, 0x00, 0x20, 0x01, 0x10, ...uleb((index * 7919) % functions), 0x1a);
  code.push(0x41, 0x00, 0x40, 0x00, 0x1a);
  code.push(0x20, 0x00, 0x41, 0x01, 0x6b, 0x21, 0x00, 0x0c, 0x00, 0x0b, 0x0b, 0x20, 0x02, 0x0b);
  const withLocals = [...vec([[1, 0x7f]]), ...code];
  return [...uleb(withLocals.length), ...withLocals];
}

export interface BigModule {
  /** Size of every variant in bytes. */
  sizeBytes: number;
  /** A copy of the module whose data segment holds `seed`: distinct seeds, distinct bytes. */
  variant(seed: number): Uint8Array<ArrayBuffer>;
}

/** Builds the template once; `functions` = 3000 gives about 1 MB. */
export function bigModule(functions = 3000): BigModule {
  const bodies = Array.from({ length: functions }, (_, i) => body(i, functions));
  const head = [
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vec([[0x60, 2, 0x7f, 0x7f, 1, 0x7f]])),
    ...section(3, vec(Array.from({ length: functions }, () => [0]))),
    ...section(5, vec([[0x00, 1]])),
    ...section(
      7,
      vec([
        [...name("__guest_call"), 0x00, 0],
        [...name("memory"), 0x02, 0],
      ]),
    ),
    ...section(10, vec(bodies)),
  ];
  // Data section: one active segment at offset 0 holding 8 bytes, the last 8 of the module.
  const data = section(11, vec([[0x00, 0x41, 0x00, 0x0b, 8, 0, 0, 0, 0, 0, 0, 0, 0]]));
  const template = Uint8Array.from([...head, ...data]);
  const seedAt = template.byteLength - 8;
  return {
    sizeBytes: template.byteLength,
    variant(seed) {
      const copy = template.slice();
      new DataView(copy.buffer).setFloat64(seedAt, seed, true);
      return copy;
    },
  };
}

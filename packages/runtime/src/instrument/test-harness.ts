/**
 * Test support for the instrumenter's tests: WAT with extra wabt features or debug names, and a
 * host that plays the runtime's part (fuel refills, memory_grow) while counting what it is asked.
 */
import { wat } from "../test-support/wat.js";
import { FUEL_GLOBAL_EXPORT, FUEL_IMPORT, GROW_IMPORT, instrument, MEMORY_EXPORT } from "./index.js";
import { uleb } from "./writer.js";

export { uleb };

/** WAT with more wabt features or with the name section: test-support/wat.ts with its options. */
export const watWith = wat;

export const DEFAULT_CAP_PAGES = 256;

// wabt and Node hand out views typed over ArrayBufferLike; the WebAssembly API wants ArrayBuffer.
export function validates(bytes: Uint8Array): boolean {
  return WebAssembly.validate(bytes as BufferSource);
}

export function compileModule(bytes: Uint8Array): WebAssembly.Module {
  return new WebAssembly.Module(bytes as BufferSource);
}

export function instrumented(bytes: Uint8Array, maxMemoryPages = DEFAULT_CAP_PAGES): Uint8Array {
  return instrument(bytes, { maxMemoryPages }).bytes;
}

export interface HostOptions {
  /** Fuel in the global after instantiation. @default 1_000_000_000n */
  budget?: bigint;
  /** Fuel added by each call of the fuel import; null makes the import throw FuelExhausted. */
  refill?: bigint | null;
  /** Answer of memory_grow; by default it grows the memory as the engine would. */
  grow?: (deltaPages: number, memory: WebAssembly.Memory | undefined) => number;
  imports?: WebAssembly.Imports;
}

export class FuelExhausted extends Error {}

/** An instrumented module running under a host that meters it like the runtime does. */
export class MeteredInstance {
  readonly instance: WebAssembly.Instance;
  fuelCalls = 0;
  growCalls: number[] = [];
  private granted: bigint;
  private global: WebAssembly.Global | null = null;

  constructor(bytes: Uint8Array, options: HostOptions = {}) {
    const refill = options.refill === undefined ? 1_000_000n : options.refill;
    this.granted = 0n;
    const host = {
      [FUEL_IMPORT.name]: () => {
        this.fuelCalls++;
        if (this.global === null) return;
        if (refill === null) throw new FuelExhausted("fuel exhausted");
        this.global.value = (this.global.value as bigint) + refill;
        this.granted += refill;
      },
      [GROW_IMPORT.name]: (delta: number) => {
        this.growCalls.push(delta);
        const memory = this.memory;
        if (options.grow !== undefined) return options.grow(delta, memory);
        try {
          return memory?.grow(delta >>> 0) ?? -1;
        } catch {
          return -1;
        }
      },
    };
    const module = compileModule(bytes);
    this.instance = new WebAssembly.Instance(module, { ...options.imports, [FUEL_IMPORT.module]: host });
    this.global = this.instance.exports[FUEL_GLOBAL_EXPORT] as WebAssembly.Global;
    this.granted = options.budget ?? 1_000_000_000n;
    this.global.value = this.granted;
  }

  get exports(): WebAssembly.Exports {
    return this.instance.exports;
  }

  get memory(): WebAssembly.Memory | undefined {
    return this.instance?.exports[MEMORY_EXPORT] as WebAssembly.Memory | undefined;
  }

  /** Fuel consumed since instantiation (charges in a start function are not seen here). */
  get fuelUsed(): bigint {
    return this.granted - (this.global!.value as bigint);
  }

  /** Fuel consumed by one call. */
  measure(fn: () => unknown): { result: unknown; fuel: bigint } {
    const before = this.fuelUsed;
    const result = fn();
    return { result, fuel: this.fuelUsed - before };
  }

  call(name: string, ...args: unknown[]): unknown {
    return (this.exports[name] as (...a: unknown[]) => unknown)(...args);
  }
}

/** Minimal module bytes built by hand, for shapes wabt will not write. */
export function moduleOf(...sections: [id: number, content: number[]][]): Uint8Array {
  const out = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  const parts = [out];
  for (const [id, content] of sections) parts.push([id, ...uleb(content.length)], content);
  return Uint8Array.from(parts.flat());
}

/** A vector: count then items. */
export function vec(items: number[][]): number[] {
  return uleb(items.length).concat(items.flat());
}

/** A function body: local declarations (none) then code, with its size. */
export function body(code: number[], locals: number[][] = []): number[] {
  const content = [...vec(locals), ...code];
  return [...uleb(content.length), ...content];
}

import { instrument } from "@wasmatrix/runtime";
import { cpuGuest } from "../../guests.js";
import { type Figure, targets } from "../../report.js";
import { summarize } from "../../stats.js";

const FNV_BYTES = 10_000_000;
const FIB_N = 30;
/** Refill far above any run here, so the refill call itself happens once per run. */
const REFILL = 1n << 60n;
const WARM_SAMPLES = 12;
const WARM_WARMUP = 4;
const COLD_SAMPLES = 8;

type Exports = { fnv(n: number): number; fib(n: number): number };
type Workload = (exports: Exports) => number;

/**
 * Appends a custom section holding `tag`: new bytes, so V8 compiles them afresh instead of
 * handing back a module it has already tiered up.
 */
function tagged(bytes: Uint8Array, tag: number): Uint8Array<ArrayBuffer> {
  const section = [
    0x00,
    10,
    5,
    ...Buffer.from("bench"),
    tag & 0xff,
    (tag >> 8) & 0xff,
    (tag >> 16) & 0xff,
    0,
  ];
  const out = new Uint8Array(bytes.byteLength + section.length);
  out.set(bytes);
  out.set(section, bytes.byteLength);
  return out;
}

/**
 * The instrumented build gets a `wasmatrix.fuel` that only refills, so the figure is what the
 * charges cost and nothing else.
 */
async function load(bytes: Uint8Array<ArrayBuffer>, metered: boolean): Promise<Exports> {
  if (!metered) return (await WebAssembly.instantiate(bytes)).instance.exports as unknown as Exports;
  let exports: WebAssembly.Exports | undefined;
  const { instance } = await WebAssembly.instantiate(bytes, {
    wasmatrix: {
      fuel: () => {
        (exports!["__wasmatrix_fuel"] as WebAssembly.Global).value = REFILL;
      },
      memory_grow: (delta: number) => (exports!["__wasmatrix_memory"] as WebAssembly.Memory).grow(delta),
    },
  });
  exports = instance.exports;
  return exports as unknown as Exports;
}

const timeMs = (fn: () => unknown) => {
  const started = performance.now();
  fn();
  return performance.now() - started;
};

/**
 * What fuel metering costs a CPU-bound guest: the same function, instrumented and not, run in the
 * main thread with plain WebAssembly.instantiate. Warm: after warm-up runs, in V8's optimizing
 * tier. Cold: the first call of freshly compiled bytes, whose loop V8 runs start to end in its
 * baseline tier (Liftoff), as in a short-lived guest.
 */
export async function fuelFigures(): Promise<Figure[]> {
  const source = await cpuGuest();
  const instrumented = instrument(source, { maxMemoryPages: 16 }).bytes;
  let tag = 0;
  const fresh = (metered: boolean) => load(tagged(metered ? instrumented : source, ++tag), metered);
  const check = [await fresh(false), await fresh(true)];
  if (check[0]!.fnv(1000) !== check[1]!.fnv(1000) || check[0]!.fib(20) !== check[1]!.fib(20)) {
    throw new Error("instrumented guest computes something else");
  }

  const warm = async (work: Workload) => {
    const plain = await fresh(false);
    const metered = await fresh(true);
    const times = { plain: [] as number[], metered: [] as number[] };
    // Interleaved, so drift in the machine's speed lands on both builds alike.
    for (let i = 0; i < WARM_WARMUP + WARM_SAMPLES; i++) {
      const p = timeMs(() => work(plain));
      const m = timeMs(() => work(metered));
      if (i >= WARM_WARMUP) {
        times.plain.push(p);
        times.metered.push(m);
      }
    }
    return { plain: summarize(times.plain).median, metered: summarize(times.metered).median };
  };
  const cold = async (work: Workload) => {
    const times = { plain: [] as number[], metered: [] as number[] };
    for (let i = 0; i < COLD_SAMPLES; i++) {
      const plain = await fresh(false);
      times.plain.push(timeMs(() => work(plain)));
      const metered = await fresh(true);
      times.metered.push(timeMs(() => work(metered)));
    }
    return { plain: summarize(times.plain).median, metered: summarize(times.metered).median };
  };

  const figure = (name: string, result: { plain: number; metered: number }): Figure => {
    const baseline = { label: "uninstrumented", value: result.plain };
    return {
      name,
      value: result.metered,
      unit: "ms",
      baselines: [baseline],
      target: targets.ratioAtMost(result.metered, baseline, 1.3),
    };
  };
  const fnv: Workload = (e) => e.fnv(FNV_BYTES);
  const fib: Workload = (e) => e.fib(FIB_N);
  return [
    figure("fuel overhead, warm: FNV-1a over 10^7 bytes (a loop with a load)", await warm(fnv)),
    figure(`fuel overhead, warm: fib(${FIB_N}), naive recursion (a call per step)`, await warm(fib)),
    {
      ...figure("fuel overhead, cold (baseline tier): FNV-1a over 10^7 bytes", await cold(fnv)),
      note: "one call of freshly compiled bytes; V8 has no on-stack replacement for wasm, so it runs in Liftoff throughout (a cold fib is not shown: its calls switch to optimized code part-way)",
    },
  ];
}

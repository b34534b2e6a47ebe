/**
 * The statistics every suite shares: samples are timed one by one, warm-up samples are run and
 * discarded (they measure the JIT, not the code), and a figure is the median with its p99.
 */

/** Warm-up samples discarded before timing, unless a call says otherwise. */
export const DEFAULT_WARMUP = 50;

export interface Summary {
  /** Samples kept after the warm-up. */
  count: number;
  median: number;
  p99: number;
  mean: number;
  min: number;
  max: number;
}

export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) throw new Error("no samples to summarize");
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return {
    count: sorted.length,
    median,
    p99: at(0.99),
    mean: sorted.reduce((sum, x) => sum + x, 0) / sorted.length,
    min: sorted[0]!,
    max: sorted[sorted.length - 1]!,
  };
}

/** Operations per second from a per-operation time in microseconds. */
export const opsPerSecond = (micros: number): number => 1e6 / micros;

export interface SampleOptions {
  samples: number;
  warmup?: number;
  /** Operations per sample; the sample is their mean. Use for operations far below 1 µs. */
  batch?: number;
}

/** Times `fn` sample by sample, in microseconds per operation. */
export async function sampleAsync(fn: () => Promise<unknown>, options: SampleOptions): Promise<Summary> {
  const batch = options.batch ?? 1;
  const times: number[] = [];
  const warmup = options.warmup ?? DEFAULT_WARMUP;
  for (let s = 0; s < warmup + options.samples; s++) {
    const started = performance.now();
    for (let i = 0; i < batch; i++) await fn();
    const elapsed = ((performance.now() - started) * 1000) / batch;
    if (s >= warmup) times.push(elapsed);
  }
  return summarize(times);
}

/** The synchronous twin of `sampleAsync`. */
export function sampleSync(fn: () => unknown, options: SampleOptions): Summary {
  const batch = options.batch ?? 1;
  const times: number[] = [];
  const warmup = options.warmup ?? DEFAULT_WARMUP;
  for (let s = 0; s < warmup + options.samples; s++) {
    const started = performance.now();
    for (let i = 0; i < batch; i++) fn();
    const elapsed = ((performance.now() - started) * 1000) / batch;
    if (s >= warmup) times.push(elapsed);
  }
  return summarize(times);
}

export interface ThroughputOptions {
  /** Operations per round. */
  total: number;
  /** Operations kept in flight. */
  concurrency: number;
  rounds: number;
  /** Rounds run first and discarded. Default 1. */
  warmupRounds?: number;
}

/** One round: `total` operations, `concurrency` in flight; microseconds per operation. */
async function throughputRound(
  fn: (i: number) => Promise<unknown>,
  total: number,
  concurrency: number,
): Promise<number> {
  let next = 0;
  const started = performance.now();
  const lane = async () => {
    while (next < total) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, lane));
  return ((performance.now() - started) * 1000) / total;
}

/**
 * Runs `total` operations with `concurrency` in flight, `rounds` times; each round gives one
 * sample of microseconds per operation (wall time over operations), so `opsPerSecond(median)`
 * is the sustained rate.
 */
export async function sampleThroughput(
  fn: (i: number) => Promise<unknown>,
  options: ThroughputOptions,
): Promise<Summary> {
  return (await sampleThroughputInTurns({ only: fn }, options)).only;
}

/**
 * `sampleThroughput` for several variants, a round of each in turn, so changes in the machine's
 * load during the run reach all of them alike.
 */
export async function sampleThroughputInTurns<K extends string>(
  variants: Record<K, (i: number) => Promise<unknown>>,
  options: ThroughputOptions,
): Promise<Record<K, Summary>> {
  const entries = Object.entries(variants) as [K, (i: number) => Promise<unknown>][];
  const times = new Map<K, number[]>(entries.map(([name]) => [name, []]));
  const warmupRounds = options.warmupRounds ?? 1;
  for (let round = 0; round < warmupRounds + options.rounds; round++) {
    for (const [name, fn] of entries) {
      const perOperation = await throughputRound(fn, options.total, options.concurrency);
      if (round >= warmupRounds) times.get(name)!.push(perOperation);
    }
  }
  return Object.fromEntries(entries.map(([name]) => [name, summarize(times.get(name)!)])) as Record<
    K,
    Summary
  >;
}

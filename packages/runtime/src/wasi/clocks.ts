/** preview1 `clockid` values. CPU-time clocks are served by the monotonic clock. */
export const ClockId = {
  REALTIME: 0,
  MONOTONIC: 1,
  PROCESS_CPUTIME: 2,
  THREAD_CPUTIME: 3,
} as const;

/**
 * What `clock_res_get` reports for every clock. Conservative on purpose: realtime is
 * extrapolated between `Date.now()` readings, and promising nanoseconds would be false precision.
 */
export const CLOCK_RESOLUTION_NS = 1000n;

/** Past this gap between our extrapolation and `Date.now()`, the wall clock was stepped. */
const REALTIME_RESYNC_MS = 5;

const NS_PER_MS = 1_000_000n;

/**
 * Realtime with sub-millisecond precision: `Date.now()` anchors it and `performance.now()`
 * extrapolates. Multiplying an epoch in milliseconds by 1e6 as a double would lose about 256 ns,
 * so the anchor stays an integer and only the small offset is fractional. A stepped wall clock
 * (NTP, suspend) re-anchors it.
 */
export function createRealtimeClock(): () => bigint {
  let anchorMs = Date.now();
  let anchorPerf = performance.now();
  return () => {
    const perf = performance.now();
    const wall = Date.now();
    let offsetMs = perf - anchorPerf;
    if (Math.abs(anchorMs + offsetMs - wall) > REALTIME_RESYNC_MS) {
      anchorMs = wall;
      anchorPerf = perf;
      offsetMs = 0;
    }
    return BigInt(anchorMs) * NS_PER_MS + BigInt(Math.round(offsetMs * 1e6));
  };
}

export function monotonicNow(): bigint {
  return process.hrtime.bigint();
}

const sleepCell = new Int32Array(new SharedArrayBuffer(4));

/** Blocks the thread: a WASI call is synchronous, so waiting inside one means blocking. */
export function blockingSleep(ns: bigint): void {
  if (ns <= 0n) return;
  Atomics.wait(sleepCell, 0, 0, Number(ns) / 1e6);
}

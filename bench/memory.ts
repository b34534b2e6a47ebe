/**
 * Memory readings for density and endurance figures. `npm run bench` cannot pass
 * `--expose-gc`, so the flag is set at run time and `gc` fetched from a fresh context, where V8
 * installs it once the flag is on.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

setFlagsFromString("--expose-gc");
const collect = runInNewContext("gc") as () => void;

const MIB = 1024 * 1024;

export interface MemorySnapshot {
  /** Resident set of the whole process, worker threads included, in MiB. */
  rssMiB: number;
  /** The main thread's V8 heap in use, in MiB. */
  heapUsedMiB: number;
}

/** A full collection on the main thread, twice (the second one sweeps what finalizers freed), then a reading. */
export async function settledMemory(): Promise<MemorySnapshot> {
  collect();
  await new Promise((resolve) => setImmediate(resolve));
  collect();
  const usage = process.memoryUsage();
  return { rssMiB: usage.rss / MIB, heapUsedMiB: usage.heapUsed / MIB };
}

export function currentMemory(): MemorySnapshot {
  const usage = process.memoryUsage();
  return { rssMiB: usage.rss / MIB, heapUsedMiB: usage.heapUsed / MIB };
}

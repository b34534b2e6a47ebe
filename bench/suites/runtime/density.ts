import type { CompiledModule, Runtime, RuntimeInstance } from "@wasmatrix/runtime";
import { settledMemory } from "../../memory.js";
import { type Figure, targets } from "../../report.js";
import { stubImports } from "./instantiate.js";

/** Instances started at once while filling: enough to batch jobs, few enough to stay responsive. */
const FILL_IN_FLIGHT = 250;
const KIB_PER_MIB = 1024;

export interface DensityInputs {
  /** A runtime used for nothing else: it is closed at the end to free every memory. */
  runtime: Runtime;
  compiled: CompiledModule;
  instances: number;
}

/**
 * Resident memory per idle reactor (one page of linear memory each), from process RSS, which
 * counts the worker threads too. Raw V8 instances of the same module are measured after the
 * runtime is closed: holding both sets at once would pass the ~13,000 memories one process can
 * reserve address space for.
 */
export async function densityFigures({ runtime, compiled, instances }: DensityInputs): Promise<{
  figures: Figure[];
  notes: string[];
}> {
  // Spawn the pool first, so the workers' own footprint is in the "before" reading.
  const warm = await Promise.all(
    Array.from({ length: 8 }, (_, i) => runtime.instantiate(compiled, { instanceId: `warm-${i}` })),
  );
  await Promise.all(warm.map((instance) => instance.dispose()));
  const before = await settledMemory();

  const started = performance.now();
  const loaded: RuntimeInstance[] = [];
  const fillTimes: number[] = [];
  while (loaded.length < instances) {
    const chunkStarted = performance.now();
    const count = Math.min(FILL_IN_FLIGHT, instances - loaded.length);
    const base = loaded.length;
    loaded.push(
      ...(await Promise.all(
        Array.from({ length: count }, (_, i) =>
          runtime.instantiate(compiled, { instanceId: `idle-${base + i}` }),
        ),
      )),
    );
    fillTimes.push(((performance.now() - chunkStarted) * 1000) / count);
  }
  const fillSeconds = (performance.now() - started) / 1000;
  const after = await settledMemory();
  const perInstanceKiB = ((after.rssMiB - before.rssMiB) * KIB_PER_MIB) / instances;
  const heapKiB = ((after.heapUsedMiB - before.heapUsedMiB) * KIB_PER_MIB) / instances;

  const stillServing = await loaded[loaded.length - 1]!.invoke("echo", new Uint8Array([1]));
  const disposeStarted = performance.now();
  for (let i = 0; i < loaded.length; i += FILL_IN_FLIGHT) {
    await Promise.all(loaded.slice(i, i + FILL_IN_FLIGHT).map((instance) => instance.dispose()));
  }
  const disposeSeconds = (performance.now() - disposeStarted) / 1000;
  await runtime.close();

  const rawBefore = await settledMemory();
  const imports = stubImports(compiled.module);
  let raw: WebAssembly.Instance[] = Array.from(
    { length: instances },
    () => new WebAssembly.Instance(compiled.module, imports),
  );
  const rawAfter = await settledMemory();
  const rawKiB = ((rawAfter.rssMiB - rawBefore.rssMiB) * KIB_PER_MIB) / raw.length;
  raw = [];
  await settledMemory();

  const chunksPerThousand = Math.ceil(1000 / FILL_IN_FLIGHT);
  const first = fillTimes.slice(0, chunksPerThousand);
  const last = fillTimes.slice(-chunksPerThousand);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return {
    figures: [
      {
        name: `RSS per idle reactor, ${instances.toLocaleString("en-US")} instances across the pool`,
        value: perInstanceKiB,
        unit: "KiB",
        baselines: [{ label: "raw V8 instances of the same module (main thread)", value: rawKiB }],
        target: targets.atMost(perInstanceKiB, 150, "KiB"),
        note: `of which main-thread heap ${heapKiB.toFixed(1)} KiB; RSS ${before.rssMiB.toFixed(0)} → ${after.rssMiB.toFixed(0)} MiB; an instance at the end still answered (${stillServing.outcome.status})`,
      },
    ],
    notes: [
      `filling ${instances.toLocaleString("en-US")} instances took ${fillSeconds.toFixed(1)} s (${FILL_IN_FLIGHT} at a time): ${mean(first).toFixed(0)} µs per instance for the first 1,000, ${mean(last).toFixed(0)} µs for the last 1,000; disposing them took ${disposeSeconds.toFixed(1)} s`,
      "the raw V8 baseline is measured after the runtime's workers are gone, in a main-thread heap that may reuse pages freed earlier, so it can read low",
    ],
  };
}

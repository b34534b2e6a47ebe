import { type CompiledModule, type Runtime, type RuntimeInstance, resolveLimits } from "@wasmatrix/runtime";
import { importBundled } from "../../bundled.js";
import { extismPlugin } from "../../extism.js";
import { RawWorker } from "../../raw-worker.js";
import { type Figure, targets } from "../../report.js";
import { sampleSync, summarize } from "../../stats.js";

const SAMPLES = 300;
const WARMUP = 30;
const IN_FLIGHT = 64;
const EXTISM_FOREGROUND_SAMPLES = 30;
const EXTISM_BACKGROUND_SAMPLES = 5;

/** Imports that satisfy any module's function imports with no-ops: V8's own instantiate cost. */
export function stubImports(module: WebAssembly.Module): WebAssembly.Imports {
  const imports: Record<string, Record<string, () => number>> = {};
  for (const entry of WebAssembly.Module.imports(module)) {
    if (entry.kind !== "function") throw new Error(`cannot stub a ${entry.kind} import`);
    imports[entry.module] = { ...imports[entry.module], [entry.name]: () => 0 };
  }
  return imports;
}

let nextId = 0;
const freshId = () => `inst-${++nextId}`;

export interface InstantiateInputs {
  runtime: Runtime;
  /** The echo reactor through runtime.compile (instrumented, cached). */
  compiled: CompiledModule;
  /** The Extism echo plugin, precompiled, so its figure is from cache too. */
  extismModule: WebAssembly.Module;
}

/**
 * Instantiating a cached module. wasmatrix's figure includes handing the load job to a pooled
 * worker and getting the answer back (one message each way); the in-worker part is measured on
 * its own by running the same GuestInstance on the main thread.
 */
export async function instantiateFigures({
  runtime,
  compiled,
  extismModule,
}: InstantiateInputs): Promise<Figure[]> {
  const imports = stubImports(compiled.module);
  const raw = sampleSync(() => new WebAssembly.Instance(compiled.module, imports), {
    samples: SAMPLES,
    warmup: WARMUP,
  });

  // Bundled as the workers load it; see bundled.ts.
  const { GuestInstance } = await importBundled<
    typeof import("../../../packages/runtime/src/guest/instance.js")
  >("packages/runtime/src/guest/instance.ts");
  const limits = resolveLimits();
  const io = {
    stdout: { write: () => undefined },
    stderr: { write: () => undefined },
    log: () => undefined,
    hostCall: () => ({ ok: true as const, data: new Uint8Array(0) }),
  };
  const inWorker = sampleSync(
    () => {
      const guest = new GuestInstance(
        compiled.module,
        compiled.info,
        { instanceId: "x", kind: "reactor", limits, args: [], env: {} },
        io,
      );
      if (guest.instantiate() !== null) throw new Error("echo reactor failed to initialise");
    },
    { samples: SAMPLES, warmup: WARMUP },
  );

  // In turns with raw V8 doing the same across the same kind of thread boundary.
  const rawWorker = new RawWorker();
  const times = { wasmatrix: [] as number[], rawWorker: [] as number[] };
  try {
    for (let i = 0; i < WARMUP + SAMPLES; i++) {
      let started = performance.now();
      const instance = await runtime.instantiate(compiled, { instanceId: freshId() });
      if (i >= WARMUP) times.wasmatrix.push((performance.now() - started) * 1000);
      await instance.dispose();
      started = performance.now();
      await rawWorker.load(compiled.module);
      if (i >= WARMUP) times.rawWorker.push((performance.now() - started) * 1000);
    }
  } finally {
    await rawWorker.close();
  }
  const sequential = summarize(times.wasmatrix);
  const rawInWorker = summarize(times.rawWorker);

  const rounds: number[] = [];
  for (let round = 0; round < 6; round++) {
    const started = performance.now();
    const batch: RuntimeInstance[] = await Promise.all(
      Array.from({ length: IN_FLIGHT * 4 }, () => runtime.instantiate(compiled, { instanceId: freshId() })),
    );
    if (round > 0) rounds.push(((performance.now() - started) * 1000) / batch.length);
    await Promise.all(batch.map((instance) => instance.dispose()));
  }
  const concurrent = summarize(rounds);

  const extism = async (runInWorker: boolean, samples: number) => {
    const created: number[] = [];
    for (let i = 0; i < samples + 1; i++) {
      const started = performance.now();
      const plugin = await extismPlugin(extismModule, runInWorker);
      if (i > 0) created.push((performance.now() - started) * 1000);
      await plugin.close();
    }
    return summarize(created);
  };
  const extismForeground = await extism(false, EXTISM_FOREGROUND_SAMPLES);
  const extismBackground = await extism(true, EXTISM_BACKGROUND_SAMPLES);

  const rawBaseline = { label: "raw new WebAssembly.Instance", value: raw.median };
  const rawWorkerBaseline = {
    label: "raw V8 in a worker, postMessage round trip",
    value: rawInWorker.median,
  };
  return [
    {
      name: "instantiate from cache, one at a time (pooled worker, load job round trip)",
      value: sequential.median,
      p99: sequential.p99,
      unit: "µs",
      baselines: [
        rawWorkerBaseline,
        rawBaseline,
        { label: "Extism createPlugin (in-thread)", value: extismForeground.median },
        { label: "Extism createPlugin (runInWorker)", value: extismBackground.median },
      ],
      target: targets.ratioAtMost(sequential.median, rawWorkerBaseline, 2),
      note: "the like-for-like baseline is raw V8 instantiating in a worker asked by postMessage (bench/raw-worker.ts); beside in-thread raw V8 the thread crossing alone is over 2×, so the row below times the in-worker part by itself",
    },
    {
      name: "instantiate, in-worker part (GuestInstance.instantiate, run on the main thread)",
      value: inWorker.median,
      p99: inWorker.p99,
      unit: "µs",
      baselines: [rawBaseline],
      target: targets.ratioAtMost(inWorker.median, rawBaseline, 2),
    },
    {
      name: `instantiate from cache, ${IN_FLIGHT * 4} at once (per instance)`,
      value: concurrent.median,
      unit: "µs",
      baselines: [rawBaseline],
    },
  ];
}

import { availableParallelism } from "node:os";
import { DEFAULT_SPIN_MICROS, Runtime } from "@wasmatrix/runtime";
import { EXTISM_RESET_NOTE } from "../../extism.js";
import { echoReactor, extismEcho, hostPingReactor } from "../../guests.js";
import type { Figure, SuiteResult } from "../../report.js";
import { summarize } from "../../stats.js";
import type { Suite, SuiteOptions } from "../../suite.js";
import { spinningRoundTrip, WakeupProbe } from "../../wakeup.js";
import { compileFigures } from "./compile.js";
import { densityFigures } from "./density.js";
import { fuelFigures } from "./fuel.js";
import { hostCallFigures, IMMEDIATE_NAMESPACE } from "./host-calls.js";
import { instantiateFigures } from "./instantiate.js";
import { invokeFigures } from "./invoke.js";

const DENSITY_INSTANCES = 10_000;
const EMPTY = new Uint8Array(0);

async function run({ log }: SuiteOptions): Promise<SuiteResult> {
  const started = performance.now();
  const figures: Figure[] = [];
  const notes: string[] = [];

  log("runtime: thread wake-up floor");
  const probe = await WakeupProbe.start();
  const parked = summarize(probe.parked(3000));
  const message = summarize(await probe.message(3000));
  const spinning = await spinningRoundTrip(20_000);
  figures.push(
    {
      name: "floor: Atomics.wait/notify round trip, both threads parked",
      value: parked.median,
      p99: parked.p99,
      unit: "µs",
      baselines: [],
    },
    {
      name: "floor: the same, both threads spinning",
      value: spinning.median,
      p99: spinning.p99,
      unit: "µs",
      baselines: [],
    },
    {
      name: "floor: postMessage round trip to a worker",
      value: message.median,
      p99: message.p99,
      unit: "µs",
      baselines: [],
    },
  );

  log("runtime: compile");
  figures.push(...(await compileFigures()));

  const runtime = new Runtime({ hostCallRouter: { call: async () => EMPTY } });
  try {
    const echoBytes = await echoReactor();
    const compiled = await runtime.compile(echoBytes);
    const rawModule = await WebAssembly.compile(echoBytes as BufferSource);
    const extismModule = await WebAssembly.compile((await extismEcho()) as BufferSource);

    log("runtime: instantiate");
    figures.push(...(await instantiateFigures({ runtime, compiled, extismModule })));

    log("runtime: invoke");
    const echo = await runtime.instantiate(compiled, { instanceId: "echo" });
    figures.push(...(await invokeFigures({ echo, rawModule, extismModule, probe })));
    await echo.dispose();

    log("runtime: host calls");
    const pingBytes = await hostPingReactor();
    const hostCalls = await hostCallFigures({
      runtime,
      compiled: await runtime.compile(pingBytes),
      rawModule: await WebAssembly.compile(pingBytes as BufferSource),
      extismModule,
      probe,
    });
    figures.push(...hostCalls.figures);
    notes.push(...hostCalls.notes);
  } finally {
    await runtime.close();
    await probe.close();
  }

  log("runtime: fuel overhead");
  figures.push(...(await fuelFigures()));

  log(`runtime: density (${DENSITY_INSTANCES} idle instances)`);
  const dense = new Runtime();
  const density = await densityFigures({
    runtime: dense,
    compiled: await dense.compile(await echoReactor()),
    instances: DENSITY_INSTANCES,
  });
  figures.push(...density.figures);
  notes.push(...density.notes);

  notes.push(
    EXTISM_RESET_NOTE,
    "Extism runInWorker plugins are started without tsx's exec arguments: with them, Node 20 fails to load Extism's `data:` URL worker (`TypeError: Invalid URL`, input 'worker.js.map'); see bench/extism.ts",
    `a runtime with the default pool (${Math.min(4, availableParallelism())} workers) and a spin of ${DEFAULT_SPIN_MICROS} µs before parking; the cross-thread router is \`${IMMEDIATE_NAMESPACE}\`, answering an empty payload at once`,
  );
  return {
    name: "runtime",
    title: "Runtime (issue 4)",
    figures,
    notes,
    elapsedMs: performance.now() - started,
  };
}

export const runtimeSuite: Suite = {
  name: "runtime",
  title: "Runtime (issue 4)",
  summary:
    "Compile, instantiate, invoke and host-call costs of @wasmatrix/runtime, fuel overhead and density, each beside raw V8, the thread wake-up floor and the Extism JS host.",
  run,
};

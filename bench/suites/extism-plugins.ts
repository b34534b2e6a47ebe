import { readFileSync } from "node:fs";
import type { Plugin } from "@extism/extism";
import { Runtime, type RuntimeInstance } from "@wasmatrix/runtime";
import { EXTISM_RESET_EVERY, ExtismEcho, extismPlugin } from "../extism.js";
import type { Figure, SuiteResult } from "../report.js";
import { opsPerSecond, sampleAsync, sampleThroughput } from "../stats.js";
import type { Suite, SuiteOptions } from "../suite.js";

/**
 * One Extism plugin — examples/extism/plugin.c, built by `npm run build:examples` — run by
 * wasmatrix and by @extism/extism in the same run: call latency and calls/s (wasmatrix's pooled
 * worker against Extism in-thread and `runInWorker`), and 10^5 calls without a reset.
 */
const PLUGIN = new URL("../../examples/build/extism_plugin.wasm", import.meta.url);
const PAYLOAD = new TextEncoder().encode("0123456789abcdef");
const IN_FLIGHT = 64;
const ENDURANCE_CALLS = 100_000;
/** runInWorker slows to ~100 calls/s as blocks pile up: its endurance run stops at this budget. */
const WORKER_ENDURANCE_BUDGET_MS = 20_000;

async function echo(instance: RuntimeInstance): Promise<void> {
  const result = await instance.invoke("echo", PAYLOAD);
  if (result.outcome.status !== "ok" || result.response?.byteLength !== PAYLOAD.byteLength) {
    throw new Error(`wasmatrix echo failed: ${JSON.stringify(result)}`);
  }
}

interface Endurance {
  calls: number;
  ms: number;
  /** The error that ended the run, or why it was cut short. */
  ended: string | null;
}

/** Calls an Extism plugin (never reset) until `calls`, an error, or the time budget. */
async function extismEndurance(plugin: Plugin, calls: number, budgetMs: number): Promise<Endurance> {
  const started = performance.now();
  for (let i = 0; i < calls; i++) {
    try {
      const output = await plugin.call("echo", PAYLOAD);
      if (output?.bytes().byteLength !== PAYLOAD.byteLength) {
        return { calls: i, ms: performance.now() - started, ended: "wrong answer" };
      }
    } catch (error) {
      return { calls: i, ms: performance.now() - started, ended: (error as Error).message.slice(0, 120) };
    }
    if (performance.now() - started > budgetMs) {
      return { calls: i + 1, ms: performance.now() - started, ended: `stopped after ${budgetMs / 1000} s` };
    }
  }
  return { calls, ms: performance.now() - started, ended: null };
}

function describeEndurance(e: Endurance): string {
  const rate = Math.round((e.calls / e.ms) * 1000).toLocaleString("en-US");
  return `${e.calls.toLocaleString("en-US")} calls in ${(e.ms / 1000).toFixed(1)} s (${rate}/s)${e.ended === null ? "" : `, then: ${e.ended}`}`;
}

async function run({ log, long }: SuiteOptions): Promise<SuiteResult> {
  const started = performance.now();
  const bytes = readFileSync(PLUGIN);
  const module = await WebAssembly.compile(bytes);
  const runtime = new Runtime({ workers: 1 });
  const figures: Figure[] = [];
  const notes: string[] = [];
  try {
    const compiled = await runtime.compile(bytes);
    const instance = await runtime.instantiate(compiled, {
      instanceId: "bench-plugin",
      extism: { config: {} },
    });

    log("extism: call latency, one at a time");
    const ours = await sampleAsync(() => echo(instance), { samples: 3000, warmup: 300 });
    const theirs = async (runInWorker: boolean) => {
      const plugin = await ExtismEcho.create(module, runInWorker);
      try {
        return await sampleAsync(() => plugin.call(PAYLOAD), {
          samples: runInWorker ? 500 : 3000,
          warmup: 100,
        });
      } finally {
        await plugin.close();
      }
    };
    const foreground = await theirs(false);
    const background = await theirs(true);
    figures.push({
      name: "Extism plugin echo (16 B), one call at a time",
      value: ours.median,
      p99: ours.p99,
      unit: "µs",
      baselines: [
        { label: "@extism/extism in-thread", value: foreground.median },
        { label: "@extism/extism runInWorker", value: background.median },
      ],
      note: `wasmatrix: the plugin on a pooled worker (isolated from the caller's thread); Extism reset every ${EXTISM_RESET_EVERY} calls inside the timing`,
    });

    log("extism: calls/s");
    const concurrent = await sampleThroughput(() => echo(instance), {
      total: 20_000,
      concurrency: IN_FLIGHT,
      rounds: 5,
    });
    figures.push({
      name: `Extism plugin echo, ${IN_FLIGHT} in flight on one instance`,
      value: opsPerSecond(concurrent.median),
      unit: "ops/s",
      baselines: [
        {
          label: "@extism/extism in-thread (one at a time: not reentrant)",
          value: opsPerSecond(foreground.median),
        },
        { label: "@extism/extism runInWorker (one at a time)", value: opsPerSecond(background.median) },
      ],
    });

    log(`extism: ${ENDURANCE_CALLS} calls without a reset`);
    const oursStarted = performance.now();
    let ok = 0;
    await sampleThroughput(
      async () => {
        await echo(instance);
        ok++;
      },
      { total: ENDURANCE_CALLS, concurrency: IN_FLIGHT, rounds: 1, warmupRounds: 0 },
    );
    const oursEndurance: Endurance = { calls: ok, ms: performance.now() - oursStarted, ended: null };
    const inThread = await extismPlugin(module, false);
    const inThreadEndurance = await extismEndurance(inThread, ENDURANCE_CALLS, Number.POSITIVE_INFINITY);
    await inThread.close();
    const inWorker = await extismPlugin(module, true);
    const inWorkerEndurance = await extismEndurance(
      inWorker,
      ENDURANCE_CALLS,
      long ? Number.POSITIVE_INFINITY : WORKER_ENDURANCE_BUDGET_MS,
    );
    await inWorker.close();
    figures.push({
      name: `Extism plugin echo: calls answered of ${ENDURANCE_CALLS.toLocaleString("en-US")} without a reset`,
      value: oursEndurance.calls,
      unit: "count",
      baselines: [
        { label: "@extism/extism in-thread", value: inThreadEndurance.calls },
        { label: "@extism/extism runInWorker", value: inWorkerEndurance.calls },
      ],
      note: `wasmatrix frees the kernel's memory before every call, as Extism's own runtime does`,
    });
    notes.push(
      `${ENDURANCE_CALLS.toLocaleString("en-US")} calls without a reset — wasmatrix: ${describeEndurance(oursEndurance)}; @extism/extism in-thread: ${describeEndurance(inThreadEndurance)}; runInWorker: ${describeEndurance(inWorkerEndurance)}`,
    );
  } finally {
    await runtime.close();
  }
  return {
    name: "extism",
    title: "Extism plugins: wasmatrix beside @extism/extism",
    figures,
    notes,
    elapsedMs: performance.now() - started,
  };
}

export const extismSuite: Suite = {
  name: "extism",
  title: "Extism plugins",
  summary:
    "The same Extism plugin (examples/extism/plugin.c) under wasmatrix and under @extism/extism (in-thread and runInWorker): call latency, calls/s, and 10^5 calls without a reset.",
  run,
};

import { invokeRequest, startRequest } from "@wasmatrix/client";
import { createEmbedded, type Embedded } from "@wasmatrix/embedded";
import { capabilityCall, guests } from "../../packages/node-agent/src/test-support/guests.js";
import { echoReactor, RawWapc } from "../guests.js";
import { type MemorySnapshot, settledMemory } from "../memory.js";
import { type Figure, type SuiteResult, targets } from "../report.js";
import type { Suite, SuiteOptions } from "../suite.js";

const PAYLOAD = new TextEncoder().encode("0123456789abcdef");
const IN_FLIGHT = 64;
const CHECKPOINTS = 10;
/** Calls run before the soak proper, at most: their memory is the JIT's and the pools' settling. */
const WARMUP_CALLS = 10_000;
/** "Flat": what may be left over between the 10 % and the 100 % readings, after a collection. */
const FLAT_MIB = 5;
const decoder = new TextDecoder();

interface Checkpoint {
  done: number;
  memory: MemorySnapshot;
  /** Calls per second over the stretch that ended here. */
  rate: number;
}

interface SoakRun {
  /** Calls made, warm-up included. */
  calls: number;
  failures: number;
  firstFailure: string | null;
  checkpoints: Checkpoint[];
  seconds: number;
}

/**
 * Runs a warm-up stretch (its memory is not read: that is the JIT and the pools settling), then
 * `total` calls, IN_FLIGHT at a time, in ten stretches; after each, the main thread is collected
 * and memory read. A call that throws or answers wrongly counts as a failure, warm-up included,
 * and the run goes on, so a late failure shows up as a count, not as a crash of the bench.
 */
async function soak(
  label: string,
  total: number,
  call: (i: number) => Promise<string | null>,
  log: (line: string) => void,
): Promise<SoakRun> {
  const run: SoakRun = { calls: 0, failures: 0, firstFailure: null, checkpoints: [], seconds: 0 };
  const stretch = Math.ceil(total / CHECKPOINTS);
  const warmup = Math.min(WARMUP_CALLS, stretch);
  let next = -warmup;
  run.calls = warmup + total;
  const calls = async (end: number) => {
    const lane = async () => {
      while (next < end) {
        const i = next++;
        const failure = await call(i).catch((error: unknown) =>
          error instanceof Error ? error.message : String(error),
        );
        if (failure !== null) {
          run.failures++;
          run.firstFailure ??= `call ${i}: ${failure}`;
        }
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
  };
  await calls(0);
  for (let c = 1; c <= CHECKPOINTS; c++) {
    const end = Math.min(total, c * stretch);
    const started = performance.now();
    const count = end - next;
    await calls(end);
    const elapsed = (performance.now() - started) / 1000;
    run.seconds += elapsed;
    const memory = await settledMemory();
    run.checkpoints.push({ done: end, memory, rate: count / elapsed });
    log(
      `${label}: ${c * 10}% (${end.toLocaleString("en-US")}) heapUsed ${memory.heapUsedMiB.toFixed(1)} MiB, RSS ${memory.rssMiB.toFixed(1)} MiB, ${Math.round(count / elapsed).toLocaleString("en-US")} calls/s, failures ${run.failures}`,
    );
  }
  return run;
}

/** The same number of echo calls on raw V8 in this thread: what a loop with no runtime leaves behind. */
async function rawGrowth(total: number): Promise<number> {
  const host = new RawWapc(await WebAssembly.compile((await echoReactor()) as BufferSource));
  const stretch = Math.ceil(total / CHECKPOINTS);
  host.invoke("echo", PAYLOAD);
  for (let i = 0; i < stretch; i++) host.invoke("echo", PAYLOAD);
  const first = await settledMemory();
  for (let i = stretch; i < total; i++) host.invoke("echo", PAYLOAD);
  const last = await settledMemory();
  return last.heapUsedMiB - first.heapUsedMiB;
}

function soakFigures(name: string, total: number, run: SoakRun, rawHeapGrowth: number): Figure[] {
  const first = run.checkpoints[0]!;
  const last = run.checkpoints[run.checkpoints.length - 1]!;
  const heapGrowth = last.memory.heapUsedMiB - first.memory.heapUsedMiB;
  const rssGrowth = last.memory.rssMiB - first.memory.rssMiB;
  return [
    {
      name: `${name}: failures in ${total.toLocaleString("en-US")} calls (and the warm-up)`,
      value: run.failures,
      unit: "count",
      baselines: [],
      target: { text: "= 0", met: run.failures === 0 },
      ...(run.firstFailure === null ? {} : { note: `first: ${run.firstFailure}` }),
    },
    {
      name: `${name}: main-thread heap growth, 10% → 100% (after GC)`,
      value: heapGrowth,
      unit: "MiB",
      baselines: [{ label: "raw V8, same number of in-thread echo calls", value: rawHeapGrowth }],
      ratios: false,
      target: targets.atMost(heapGrowth, FLAT_MIB, "MiB"),
    },
    {
      name: `${name}: process RSS growth, 10% → 100%`,
      value: rssGrowth,
      unit: "MiB",
      baselines: [],
      target: targets.atMost(rssGrowth, FLAT_MIB, "MiB"),
      note: `RSS ${run.checkpoints.map((c) => c.memory.rssMiB.toFixed(0)).join(" → ")} MiB; heapUsed ${run.checkpoints.map((c) => c.memory.heapUsedMiB.toFixed(1)).join(" → ")} MiB`,
    },
    {
      name: `${name}: rate over the last 10%`,
      value: last.rate,
      unit: "ops/s",
      baselines: [{ label: "rate over the first 10%", value: first.rate }],
      note: `${run.seconds.toFixed(1)} s in all`,
    },
  ];
}

const KV_ASSIGNMENT = {
  capability: "keyvalue",
  provider: "local",
  binding: "default",
  permissions: ["kv:read", "kv:write"],
};

async function run({ long, log }: SuiteOptions): Promise<SuiteResult> {
  const started = performance.now();
  const total = long ? 1_000_000 : 100_000;
  const figures: Figure[] = [];
  const notes: string[] = [];
  const rawHeapGrowth = await rawGrowth(total);
  const embedded: Embedded = await createEmbedded();
  try {
    const { client, agent } = embedded;
    await client.startInstance(
      startRequest({ instanceId: "soak-echo", module: Buffer.from(await echoReactor()) }),
    );
    const echo = await soak(
      "echo soak",
      total,
      async () => {
        const r = await client.invoke(invokeRequest("soak-echo", "echo", PAYLOAD));
        if (r.outcome?.status !== "ok" || r.guestError !== "")
          return `${r.outcome?.status}: ${r.outcome?.trap}${r.guestError}`;
        return r.response.byteLength === PAYLOAD.byteLength
          ? null
          : `answered ${r.response.byteLength} bytes`;
      },
      log,
    );
    figures.push(...soakFigures("echo soak", total, echo, rawHeapGrowth));
    const echoView = agent.get("soak-echo");
    notes.push(`echo soak instance after the run: ${echoView.status}, ${echoView.restarts} restarts`);
    await client.stopInstance({ instanceId: "soak-echo", deadlineMs: 0 });

    await client.startInstance(
      startRequest({
        instanceId: "soak-kv",
        module: Buffer.from(await guests.proxy()),
        assignments: [KV_ASSIGNMENT],
      }),
    );
    const increment = capabilityCall("default", "wasmatrix:keyvalue", "increment", { key: "n" });
    let highest = 0;
    const kv = await soak(
      "keyvalue soak",
      total,
      async () => {
        const r = await client.invoke(invokeRequest("soak-kv", "call", increment));
        if (r.outcome?.status !== "ok" || r.guestError !== "")
          return `${r.outcome?.status}: ${r.outcome?.trap}${r.guestError}`;
        highest = Math.max(highest, Number(decoder.decode(r.response)));
        return null;
      },
      log,
    );
    figures.push(...soakFigures("keyvalue soak (a host call per invocation)", total, kv, rawHeapGrowth));
    const get = await client.invoke(
      invokeRequest("soak-kv", "call", capabilityCall("default", "wasmatrix:keyvalue", "get", { key: "n" })),
    );
    const stored = Number(decoder.decode(get.response));
    const answered = kv.calls - kv.failures;
    figures.push({
      name: "keyvalue soak: counter after the run (warm-up included)",
      value: stored,
      unit: "count",
      baselines: [{ label: "increments answered", value: answered }],
      target: {
        text: `= ${answered.toLocaleString("en-US")}`,
        met: stored === answered && highest === stored,
      },
    });
    const kvView = agent.get("soak-kv");
    notes.push(
      `keyvalue soak instance after the run: ${kvView.status}, ${kvView.restarts} restarts, ${kvView.calls.hostCalls.toLocaleString("en-US")} host calls counted`,
      `one instance each, through createEmbedded().client, ${IN_FLIGHT} calls in flight, after ${WARMUP_CALLS.toLocaleString("en-US")} warm-up calls; memory is read after a full collection of the main thread at every 10% (the workers' heaps cannot be collected from here, but their memory is in RSS, so RSS moves in steps as their heaps resize)`,
      "the node agent gives its runtime no worker router, so every keyvalue call is served by the main thread's capability router: a thread crossing per call",
    );
  } finally {
    await embedded.close();
  }
  return { name: "soak", title: "Endurance (soak)", figures, notes, elapsedMs: performance.now() - started };
}

export const soakSuite: Suite = {
  name: "soak",
  title: "Endurance (soak)",
  summary:
    "10^5 invocations (10^6 with --long) through one instance via the embedded client, plain echo and a keyvalue increment per call: failures, memory at 10% vs 100%, rate at the start vs the end.",
  run,
};

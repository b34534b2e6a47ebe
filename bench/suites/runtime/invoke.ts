import type { RuntimeInstance } from "@wasmatrix/runtime";
import { ExtismEcho } from "../../extism.js";
import { RawWapc } from "../../guests.js";
import { RawWorker } from "../../raw-worker.js";
import type { Figure } from "../../report.js";
import { opsPerSecond, sampleAsync, sampleSync, sampleThroughput, summarize } from "../../stats.js";
import type { WakeupProbe } from "../../wakeup.js";

const PAYLOAD = new TextEncoder().encode("0123456789abcdef");
const IN_FLIGHT = 64;
const WARMUP = 300;
const ROUNDS = 10;
const PER_ROUND = 300;

export interface InvokeInputs {
  echo: RuntimeInstance;
  /** The echo reactor's original bytes, compiled by V8 alone. */
  rawModule: WebAssembly.Module;
  extismModule: WebAssembly.Module;
  probe: WakeupProbe;
}

async function echoOnce(instance: RuntimeInstance): Promise<void> {
  const result = await instance.invoke("echo", PAYLOAD);
  if (result.outcome.status !== "ok" || result.response?.byteLength !== PAYLOAD.byteLength) {
    throw new Error(`echo failed: ${JSON.stringify(result.outcome)}`);
  }
}

/** Invocation round trips of the echo reactor on a pooled worker, one at a time and many in flight. */
export async function invokeFigures({
  echo,
  rawModule,
  extismModule,
  probe,
}: InvokeInputs): Promise<Figure[]> {
  const host = new RawWapc(rawModule);
  const raw = sampleSync(() => host.invoke("echo", PAYLOAD), { samples: 500, warmup: 100, batch: 200 });

  for (let i = 0; i < WARMUP; i++) await echoOnce(echo);
  const rawWorker = new RawWorker();
  await rawWorker.load(rawModule);
  for (let i = 0; i < WARMUP; i++) await rawWorker.invoke("echo", PAYLOAD);
  const times = {
    invoke: [] as number[],
    rawWorker: [] as number[],
    parked: [] as number[],
    message: [] as number[],
  };
  try {
    // In turns with the floors and with raw V8, so changes in the machine's load reach all alike.
    for (let round = 0; round < ROUNDS; round++) {
      times.parked.push(...probe.parked(PER_ROUND));
      times.message.push(...(await probe.message(PER_ROUND)));
      for (let i = 0; i < PER_ROUND; i++) {
        let started = performance.now();
        await echoOnce(echo);
        times.invoke.push((performance.now() - started) * 1000);
        started = performance.now();
        const answer = await rawWorker.invoke("echo", PAYLOAD);
        times.rawWorker.push((performance.now() - started) * 1000);
        if (answer.byteLength !== PAYLOAD.byteLength) throw new Error("raw worker echo answered wrongly");
      }
    }
  } finally {
    await rawWorker.close();
  }
  const sequential = summarize(times.invoke);
  const rawInWorker = summarize(times.rawWorker);
  const floors = { parked: summarize(times.parked), message: summarize(times.message) };
  const concurrent = await sampleThroughput(() => echoOnce(echo), {
    total: 20_000,
    concurrency: IN_FLIGHT,
    rounds: 5,
  });

  const extism = async (runInWorker: boolean) => {
    const plugin = await ExtismEcho.create(extismModule, runInWorker);
    try {
      return await sampleAsync(() => plugin.call(PAYLOAD), {
        samples: runInWorker ? 500 : 3000,
        warmup: 100,
      });
    } finally {
      await plugin.close();
    }
  };
  const extismForeground = await extism(false);
  const extismBackground = await extism(true);

  return [
    {
      name: "invoke echo, one at a time (round trip to a pooled worker)",
      value: sequential.median,
      p99: sequential.p99,
      unit: "µs",
      baselines: [
        { label: "raw V8 in a worker, postMessage round trip (in turns)", value: rawInWorker.median },
        { label: "raw V8 in-thread call", value: raw.median },
        { label: "postMessage round trip (in turns)", value: floors.message.median },
        { label: "Atomics wake-up round trip (in turns)", value: floors.parked.median },
        { label: "Extism call (in-thread)", value: extismForeground.median },
        { label: "Extism call (runInWorker)", value: extismBackground.median },
      ],
      note: `${Math.round(opsPerSecond(sequential.median)).toLocaleString("en-US")} calls/s at the median`,
    },
    {
      name: `invoke echo, ${IN_FLIGHT} in flight, one instance (batched)`,
      value: opsPerSecond(concurrent.median),
      unit: "ops/s",
      baselines: [
        { label: "raw V8 in-thread call", value: opsPerSecond(raw.median) },
        { label: "Extism call (in-thread)", value: opsPerSecond(extismForeground.median) },
        {
          label: "Extism call (runInWorker; not reentrant, so one at a time)",
          value: opsPerSecond(extismBackground.median),
        },
      ],
      note: `${concurrent.median.toFixed(2)} µs per call (wall time over calls)`,
    },
  ];
}

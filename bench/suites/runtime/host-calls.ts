import type { CompiledModule, Runtime } from "@wasmatrix/runtime";
import { extismPlugin } from "../../extism.js";
import { pingDurations, pingPayload, RawWapc } from "../../guests.js";
import { type Figure, targets } from "../../report.js";
import { type Summary, summarize } from "../../stats.js";
import type { WakeupProbe } from "../../wakeup.js";

/** Namespace the bench's main-thread router answers at once. */
export const IMMEDIATE_NAMESPACE = "bench:immediate";
const IN_WORKER_CALLS = 1000;
const CROSS_THREAD_CALLS = 200;
const ROUNDS = 6;
/** Extism's background host calls sometimes stall for its 500 ms wait timeout; these are counted. */
const EXTISM_STALL_MS = 400;

export interface HostCallInputs {
  runtime: Runtime;
  /** The host-ping reactor through runtime.compile. */
  compiled: CompiledModule;
  rawModule: WebAssembly.Module;
  extismModule: WebAssembly.Module;
  probe: WakeupProbe;
}

/** Guest-timed durations, less what the two clock readings around each call cost. */
function netOf(durations: number[], clockPair: number): Summary {
  return summarize(durations.map((d) => Math.max(0, d - clockPair)));
}

/** Per host call from Extism, timed from outside: (calls with n pings − calls with none) / n. */
async function extismPing(
  runInWorker: boolean,
  perCall: number,
  samples: number,
  module: WebAssembly.Module,
) {
  const plugin = await extismPlugin(module, runInWorker);
  const none = new Uint8Array(0);
  const some = new Uint8Array(perCall);
  const time = async (input: Uint8Array) => {
    const started = performance.now();
    await plugin.call("ping", input);
    return (performance.now() - started) * 1000;
  };
  try {
    const base: number[] = [];
    const loaded: number[] = [];
    for (let i = 0; i < samples + 2; i++) {
      const b = await time(none);
      const l = await time(some);
      if (i >= 2) {
        base.push(b);
        loaded.push(l);
      }
    }
    const stalls = loaded.filter((t) => t > EXTISM_STALL_MS * 1000).length;
    return { perCall: (summarize(loaded).median - summarize(base).median) / perCall, stalls, samples };
  } finally {
    await plugin.close();
  }
}

/**
 * Host-call round trips as the guest sees them: the guest reads the monotonic clock before and
 * after each `__host_call`, so the invocation's own crossings are left out.
 */
export async function hostCallFigures(
  inputs: HostCallInputs,
): Promise<{ figures: Figure[]; notes: string[] }> {
  const { runtime, compiled, rawModule, extismModule, probe } = inputs;
  const instance = await runtime.instantiate(compiled, { instanceId: "host-ping" });
  const floors = { parked: [] as number[], message: [] as number[] };
  /** Rounds of `count` guest-timed calls; with `withFloors`, in turns with floor samples. */
  const guestTimed = async (
    operation: "ping" | "clock",
    count: number,
    namespace: string,
    withFloors = false,
  ) => {
    const all: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      if (withFloors && round > 0) {
        floors.parked.push(...probe.parked(count));
        floors.message.push(...(await probe.message(count)));
      }
      const result = await instance.invoke(operation, pingPayload(count, namespace));
      if (result.outcome.status !== "ok" || result.response === undefined) {
        throw new Error(`host-ping failed: ${JSON.stringify(result.outcome)}`);
      }
      if (round > 0) all.push(...pingDurations(result.response));
    }
    return all;
  };
  try {
    const clockPair = summarize(await guestTimed("clock", IN_WORKER_CALLS, "")).median;
    const inWorker = netOf(await guestTimed("ping", IN_WORKER_CALLS, "wasmatrix:logging"), clockPair);
    const crossThread = netOf(
      await guestTimed("ping", CROSS_THREAD_CALLS, IMMEDIATE_NAMESPACE, true),
      clockPair,
    );
    const parkedFloor = summarize(floors.parked);
    const messageFloor = summarize(floors.message);

    const raw = new RawWapc(rawModule, () => 1);
    const rawClock = summarize(pingDurations(raw.invoke("clock", pingPayload(IN_WORKER_CALLS, "")))).median;
    raw.invoke("ping", pingPayload(IN_WORKER_CALLS, "x"));
    const rawCall = netOf(pingDurations(raw.invoke("ping", pingPayload(IN_WORKER_CALLS, "x"))), rawClock);

    const extismForeground = await extismPing(false, 10_000, 15, extismModule);
    const extismBackground = await extismPing(true, 10, 15, extismModule);

    const parked = { label: "Atomics wake-up round trip (in turns)", value: parkedFloor.median };
    const notes = [
      `host calls are timed by the guest itself (WASI monotonic clock around each call), less the cost of the two readings (${clockPair.toFixed(2)} µs in the worker, ${rawClock.toFixed(2)} µs raw); Extism's are (time with n calls − time with none) / n from outside`,
    ];
    if (extismBackground.stalls > 0) {
      notes.push(
        `Extism runInWorker host calls: ${extismBackground.stalls} of ${extismBackground.samples} samples of 10 calls took over ${EXTISM_STALL_MS} ms (about the 500 ms timeout of the Atomics.wait in its worker, so a wake-up was presumably missed)`,
      );
    }
    return {
      notes,
      figures: [
        {
          name: "host call, in-worker capability (wasmatrix:logging)",
          value: inWorker.median,
          p99: inWorker.p99,
          unit: "µs",
          baselines: [
            { label: "raw V8 in-thread import call", value: rawCall.median },
            { label: "Extism host function (in-thread, mean)", value: extismForeground.perCall },
          ],
          target: targets.atMost(inWorker.median, 20, "µs"),
        },
        {
          name: "host call, cross-thread (main-thread router answers at once)",
          value: crossThread.median,
          p99: crossThread.p99,
          unit: "µs",
          baselines: [
            parked,
            { label: "postMessage round trip (in turns)", value: messageFloor.median },
            { label: "Extism host function (runInWorker, median of means)", value: extismBackground.perCall },
          ],
          target: targets.ratioAtMost(crossThread.median, parked, 1.2),
        },
      ],
    };
  } finally {
    await instance.dispose();
  }
}

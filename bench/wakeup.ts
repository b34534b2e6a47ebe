/**
 * The floor under every thread crossing: two threads handing a token back and forth through a
 * SharedArrayBuffer, each parked in `Atomics.wait` (or spinning) between turns, and a
 * `postMessage` echo. Nothing wasmatrix does across threads can beat these.
 */
import { Worker } from "node:worker_threads";
import { type Summary, summarize } from "./stats.js";

const IDLE = 0;
const PING = 1;
const STOP = 2;

/** CommonJS, run with `eval: true`: the worker side of both ping-pongs. */
const WORKER_SOURCE = `
const { workerData, parentPort } = require("node:worker_threads");
if (workerData.mode === "message") {
  parentPort.on("message", (m) => parentPort.postMessage(m));
} else {
  const flag = new Int32Array(workerData.buffer);
  const spin = workerData.mode === "spin";
  parentPort.postMessage("ready");
  for (;;) {
    let state;
    while ((state = Atomics.load(flag, 0)) === ${IDLE}) if (!spin) Atomics.wait(flag, 0, ${IDLE});
    if (state === ${STOP}) break;
    Atomics.store(flag, 0, ${IDLE});
    Atomics.notify(flag, 0);
  }
}`;

function startWorker(mode: "park" | "spin" | "message", buffer?: SharedArrayBuffer): Promise<Worker> {
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { mode, buffer } });
  if (mode === "message") return Promise.resolve(worker);
  return new Promise((resolve) => worker.once("message", () => resolve(worker)));
}

/** Round trips through a shared word, in µs; both sides park, or both spin. */
export async function atomicsRoundTrip(mode: "park" | "spin", samples: number, warmup = 200): Promise<Summary> {
  const buffer = new SharedArrayBuffer(8);
  const flag = new Int32Array(buffer);
  const worker = await startWorker(mode, buffer);
  const times: number[] = [];
  try {
    for (let i = 0; i < warmup + samples; i++) {
      const started = performance.now();
      Atomics.store(flag, 0, PING);
      Atomics.notify(flag, 0);
      if (mode === "park") {
        while (Atomics.load(flag, 0) === PING) Atomics.wait(flag, 0, PING, 1000);
      } else {
        while (Atomics.load(flag, 0) === PING) {
          // spinning on purpose: this is the spinning floor
        }
      }
      if (i >= warmup) times.push((performance.now() - started) * 1000);
    }
  } finally {
    Atomics.store(flag, 0, STOP);
    Atomics.notify(flag, 0);
    await worker.terminate();
  }
  return summarize(times);
}

/** `postMessage` to a worker that posts the message straight back, one at a time, in µs. */
export async function messageRoundTrip(samples: number, warmup = 200): Promise<Summary> {
  const worker = await startWorker("message");
  const times: number[] = [];
  try {
    for (let i = 0; i < warmup + samples; i++) {
      const started = performance.now();
      await new Promise((resolve) => {
        worker.once("message", resolve);
        worker.postMessage(i);
      });
      if (i >= warmup) times.push((performance.now() - started) * 1000);
    }
  } finally {
    await worker.terminate();
  }
  return summarize(times);
}

/**
 * The floor under every thread crossing: two threads handing a token back and forth through a
 * SharedArrayBuffer, each parked in `Atomics.wait` (or spinning) between turns, and a
 * `postMessage` echo. Nothing wasmatrix does across threads can beat these. The floor moves
 * with the machine's load (a busy vCPU wakes faster than an idle one), so figures compared with
 * it take their floor samples in turns with their own.
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

type Mode = "park" | "spin";

class AtomicsPartner {
  private readonly flag: Int32Array;

  private constructor(
    private readonly worker: Worker,
    buffer: SharedArrayBuffer,
    private readonly mode: Mode,
  ) {
    this.flag = new Int32Array(buffer);
  }

  static async start(mode: Mode): Promise<AtomicsPartner> {
    const buffer = new SharedArrayBuffer(8);
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { mode, buffer } });
    await new Promise((resolve) => worker.once("message", resolve));
    return new AtomicsPartner(worker, buffer, mode);
  }

  /** Round trips in µs; blocks this thread while it runs. */
  roundTrips(count: number): number[] {
    const flag = this.flag;
    const times: number[] = [];
    for (let i = 0; i < count; i++) {
      const started = performance.now();
      Atomics.store(flag, 0, PING);
      Atomics.notify(flag, 0);
      if (this.mode === "park") {
        while (Atomics.load(flag, 0) === PING) Atomics.wait(flag, 0, PING, 1000);
      } else {
        while (Atomics.load(flag, 0) === PING) {
          // spinning on purpose: this is the spinning floor
        }
      }
      times.push((performance.now() - started) * 1000);
    }
    return times;
  }

  async close(): Promise<void> {
    Atomics.store(this.flag, 0, STOP);
    Atomics.notify(this.flag, 0);
    await this.worker.terminate();
  }
}

class MessagePartner {
  private constructor(private readonly worker: Worker) {}

  static start(): MessagePartner {
    return new MessagePartner(new Worker(WORKER_SOURCE, { eval: true, workerData: { mode: "message" } }));
  }

  /** `postMessage` to the worker, which posts it straight back; one at a time, in µs. */
  async roundTrips(count: number): Promise<number[]> {
    const times: number[] = [];
    for (let i = 0; i < count; i++) {
      const started = performance.now();
      await new Promise((resolve) => {
        this.worker.once("message", resolve);
        this.worker.postMessage(i);
      });
      times.push((performance.now() - started) * 1000);
    }
    return times;
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}

/** Both parked floors, from workers kept alive so samples can be taken in turns with a figure's. */
export class WakeupProbe {
  private constructor(
    private readonly parkedPartner: AtomicsPartner,
    private readonly messagePartner: MessagePartner,
  ) {}

  static async start(): Promise<WakeupProbe> {
    const probe = new WakeupProbe(await AtomicsPartner.start("park"), MessagePartner.start());
    // Warm-up: the first trips include thread start and JIT.
    probe.parked(200);
    await probe.message(200);
    return probe;
  }

  /** Atomics.wait/notify round trips with both threads parked, in µs. */
  parked(count: number): number[] {
    return this.parkedPartner.roundTrips(count);
  }

  message(count: number): Promise<number[]> {
    return this.messagePartner.roundTrips(count);
  }

  async close(): Promise<void> {
    await Promise.all([this.parkedPartner.close(), this.messagePartner.close()]);
  }
}

/** The spinning floor: both threads busy-wait, so no wake-up is involved. */
export async function spinningRoundTrip(samples: number, warmup = 1000): Promise<Summary> {
  const partner = await AtomicsPartner.start("spin");
  try {
    partner.roundTrips(warmup);
    return summarize(partner.roundTrips(samples));
  } finally {
    await partner.close();
  }
}

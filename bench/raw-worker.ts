/**
 * Raw V8 across the same thread boundary wasmatrix crosses: a worker that instantiates a module
 * (with no-op imports) or calls a waPC guest's `__guest_call` when asked by `postMessage`, and
 * answers the same way. The difference from wasmatrix's figures is then wasmatrix's own work,
 * not threads.
 */
import { Worker } from "node:worker_threads";

/** CommonJS, run with `eval: true`. */
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const encoder = new TextEncoder();
let instance = null;
let operation = new Uint8Array(0);
let payload = new Uint8Array(0);
let response = new Uint8Array(0);
const memory = () => new Uint8Array(instance.exports.memory.buffer);
const wapc = {
  __guest_request: (op, pl) => { memory().set(operation, op); memory().set(payload, pl); },
  __guest_response: (ptr, len) => { response = memory().slice(ptr, ptr + len); },
  __guest_error: () => {},
};
function importsOf(module) {
  const imports = {};
  for (const entry of WebAssembly.Module.imports(module)) {
    const fn = entry.module === "wapc" && wapc[entry.name] ? wapc[entry.name] : () => 0;
    imports[entry.module] = { ...imports[entry.module], [entry.name]: fn };
  }
  return imports;
}
parentPort.on("message", (m) => {
  if (m.op === "load") {
    instance = new WebAssembly.Instance(m.module, importsOf(m.module));
    parentPort.postMessage(null);
  } else {
    operation = encoder.encode(m.operation);
    payload = m.payload;
    instance.exports.__guest_call(operation.byteLength, payload.byteLength);
    parentPort.postMessage(response);
  }
});`;

export class RawWorker {
  private readonly worker = new Worker(WORKER_SOURCE, { eval: true });

  private ask<T>(message: unknown): Promise<T> {
    return new Promise((resolve) => {
      this.worker.once("message", resolve);
      this.worker.postMessage(message);
    });
  }

  /** Instantiates `module` in the worker (replacing the instance it had). */
  load(module: WebAssembly.Module): Promise<null> {
    return this.ask({ op: "load", module });
  }

  /** Calls the loaded waPC guest. */
  invoke(operation: string, payload: Uint8Array): Promise<Uint8Array> {
    return this.ask({ op: "invoke", operation, payload });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}

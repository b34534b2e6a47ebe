/**
 * The Extism JS host (@extism/extism 1.x), the peer every comparable figure is measured beside.
 *
 * Its background plugins run in a worker whose source is a `data:` URL ending in a
 * `sourceMappingURL` comment. Workers inherit the parent's exec arguments, so under tsx the
 * worker enables source maps and Node 20 fails to resolve that comment against a `data:` URL
 * ("TypeError: Invalid URL", input 'worker.js.map') before any plugin code runs. Workers
 * started from a `data:` URL (only Extism's) therefore get `--no-warnings` as their only exec
 * argument; nothing else changes, and wasmatrix's workers are untouched.
 */
import { createRequire, syncBuiltinESMExports } from "node:module";
import type { Plugin } from "@extism/extism";

type WorkerModule = typeof import("node:worker_threads");
type CreatePlugin = typeof import("@extism/extism").createPlugin;

let loaded: CreatePlugin | undefined;

async function load(): Promise<CreatePlugin> {
  if (loaded !== undefined) return loaded;
  const threads = createRequire(import.meta.url)("node:worker_threads") as WorkerModule;
  const Original = threads.Worker;
  class PlainWorker extends Original {
    constructor(url: string | URL, options: ConstructorParameters<typeof Original>[1] = {}) {
      const dataUrl = String(url).startsWith("data:");
      super(url, dataUrl ? { ...options, execArgv: ["--no-warnings"] } : options);
    }
  }
  threads.Worker = PlainWorker;
  syncBuiltinESMExports();
  loaded = (await import("@extism/extism")).createPlugin;
  return loaded;
}

/** A plugin on the precompiled module, with the `ping` host function the bench guest imports. */
export async function extismPlugin(module: WebAssembly.Module, runInWorker: boolean): Promise<Plugin> {
  const createPlugin = await load();
  return createPlugin(
    { wasm: [{ module }] },
    {
      useWasi: false,
      runInWorker,
      functions: { "extism:host/user": { ping: (_context: unknown, value: bigint) => value } },
    },
  );
}

/** Calls between resets; see ExtismEcho. */
export const EXTISM_RESET_EVERY = 256;

/** Why the Extism figures include resets, for the docs. */
export const EXTISM_RESET_NOTE = `Extism plugins are reset every ${EXTISM_RESET_EVERY} calls, inside the timing: an @extism/extism 1.0.3 plugin keeps every call's input and output blocks until \`reset()\`; runInWorker ships all of them across threads on every call, so its calls slow down as they pile up (to ~100/s after a few thousand), and either kind fails on its 16,384th call ("cannot assign to this block": two blocks per call, and the block index in its 64-bit addresses turns negative at 32,768)`;

/**
 * The echo plugin as a caller should drive it: each answer checked, so a broken plugin cannot
 * pass for a fast one, and the plugin reset every EXTISM_RESET_EVERY calls (see the note above).
 */
export class ExtismEcho {
  private calls = 0;

  private constructor(private readonly plugin: Plugin) {}

  static async create(module: WebAssembly.Module, runInWorker: boolean): Promise<ExtismEcho> {
    return new ExtismEcho(await extismPlugin(module, runInWorker));
  }

  async call(input: Uint8Array): Promise<void> {
    const output = await this.plugin.call("echo", input);
    if (output === null || output.bytes().byteLength !== input.byteLength) {
      throw new Error("extism echo answered wrongly");
    }
    if (++this.calls % EXTISM_RESET_EVERY === 0) await this.plugin.reset();
  }

  close(): Promise<void> {
    return this.plugin.close();
  }
}

/**
 * Run by capacity.test.ts in a child process whose address space is capped (`ulimit -v`), so the
 * engine's own refusal to reserve a Wasm memory comes after a few instances instead of ~12,000.
 * Starts reactors until one is refused, then checks its neighbours and prints what it saw as JSON.
 */
import { WasmatrixError } from "@wasmatrix/core";
import { Runtime, type RuntimeInstance } from "../runtime.js";
import { REACTOR_WAT } from "./fixtures.js";
import { wat } from "./wat.js";

const MAX_TRIES = 50;
const runtime = new Runtime({ workers: 1 });
const reactor = await runtime.compile(await wat(REACTOR_WAT));
const loaded: RuntimeInstance[] = [];
const echo = async (instance: RuntimeInstance) =>
  new TextDecoder().decode((await instance.invoke("echo", new TextEncoder().encode("hi"))).response);

let refusal: { code: string; reason: unknown; message: string } | null = null;
for (let i = 0; i < MAX_TRIES && refusal === null; i++) {
  try {
    loaded.push(await runtime.instantiate(reactor, { instanceId: `r${i}` }));
  } catch (error) {
    const e = WasmatrixError.from(error);
    refusal = { code: e.code, reason: e.details["reason"], message: e.message };
  }
}
const neighbours = await Promise.all(loaded.map(echo));
// Unloading one frees its reservation once the engine collects it, which a failing reservation
// makes it do: the next start fits again.
await loaded.shift()?.dispose();
const again = await runtime.instantiate(reactor, { instanceId: "again" }).then(
  async (instance) => ({ ok: true, echo: await echo(instance) }),
  (error: unknown) => ({ ok: false, error: WasmatrixError.from(error).message }),
);
process.stdout.write(
  `${JSON.stringify({ loaded: neighbours.length, refusal, neighbours, again, inRuntime: runtime.list().length })}\n`,
);
await runtime.close();

// An Extism plugin in AssemblyScript on the published PDK (@extism/as-pdk), unchanged: built by
// scripts/build-examples.sh into extism_as_plugin.wasm and run by packages/runtime's Extism tests.
import { Config, Host, LogLevel, Memory, Var } from "@extism/as-pdk";
import { error_set } from "@extism/as-pdk/lib/env";

// AssemblyScript's abort, redirected here by `--use abort=` so the plugin imports nothing but
// extism:host/env: the message becomes the call's error, then the call traps.
export function pluginAbort(message: string | null, file: string | null, line: u32, column: u32): void {
  const text =
    (message === null ? "abort" : message) +
    " at " +
    (file === null ? "?" : file) +
    ":" +
    line.toString() +
    ":" +
    column.toString();
  error_set(Memory.allocateString(text).offset);
  unreachable();
}

export function greet(): i32 {
  Host.outputString("Hello, " + Host.inputString() + "!");
  return 0;
}

/** A counter in the var "count" (a decimal string), kept across calls. */
export function count(): i32 {
  const previous = Var.getString("count");
  const next = (previous === null ? 0 : I32.parseInt(previous)) + 1;
  Var.set("count", Uint8Array.wrap(String.UTF8.encode(next.toString())));
  Host.outputString(next.toString());
  return 0;
}

export function config(): i32 {
  const value = Config.get(Host.inputString());
  if (value === null) {
    error_set(Memory.allocateString("no such config key").offset);
    return 1;
  }
  Host.outputString(value);
  return 0;
}

export function log(): i32 {
  Host.log(LogLevel.Info, "from AssemblyScript");
  Host.outputString("logged");
  return 0;
}

export function fail(): i32 {
  assert(false, "asserted in AssemblyScript");
  return 0;
}

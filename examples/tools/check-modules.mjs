// Checks built example modules against the guest ABI (docs/abi.md) and prints what each imports
// and exports. Run by scripts/build-examples.sh on every module it (re)builds; run it by hand on
// any module: node examples/tools/check-modules.mjs examples/build/*.wasm
//
// The rules are the host's (packages/runtime/src/guest/instance.ts, buildImports): a module may
// import only from wasi_snapshot_preview1, wapc, and env.abort (AssemblyScript); it must export
// its memory; a command exports _start; a reactor exports __guest_call. An argument written
// `EXPECT:path` adds what the build knows about the module's language:
//   command     must be a command
//   reactor     must be a reactor
//   c-reactor   a reactor that also exports _initialize (wasi-libc's constructor runner, where
//               the handlers are registered) and imports nothing outside WASI and waPC
//   as-reactor  a reactor that exports _initialize (asc --exportStart) and imports no WASI
//   extism      an Extism plugin: imports extism:host/env (the ABI of docs/extism.md), and its
//               exports are its functions, with neither _start nor __guest_call
import { readFileSync } from "node:fs";
import { basename } from "node:path";

const ALLOWED = {
  wasi_snapshot_preview1: () => true,
  wapc: (name) =>
    [
      "__guest_request",
      "__guest_response",
      "__guest_error",
      "__host_call",
      "__host_response_len",
      "__host_response",
      "__host_error_len",
      "__host_error",
      "__console_log",
    ].includes(name),
  env: (name) => name === "abort",
};

let failed = 0;
for (const argument of process.argv.slice(2)) {
  const match = /^(command|reactor|c-reactor|as-reactor|extism):(.*)$/.exec(argument);
  const expect = match?.[1];
  const path = match?.[2] ?? argument;
  const problems = [];
  const bytes = readFileSync(path);
  if (!WebAssembly.validate(bytes)) {
    console.error(`check: ${path}: not a valid WebAssembly module`);
    failed++;
    continue;
  }
  const module = new WebAssembly.Module(bytes);
  const imports = WebAssembly.Module.imports(module);
  const exports = WebAssembly.Module.exports(module).map((e) => e.name);
  for (const { module: from, name, kind } of imports) {
    const extismImport = expect === "extism" && from === "extism:host/env";
    if (kind !== "function" || !(extismImport || (ALLOWED[from]?.(name) ?? false))) {
      problems.push(`imports ${from}.${name} (${kind}), which the host does not provide`);
    }
  }
  if (!exports.includes("memory")) problems.push("does not export its memory");
  const reactor = exports.includes("__guest_call");
  if (expect === "extism") {
    if (reactor || exports.includes("_start"))
      problems.push("an Extism plugin exports _start or __guest_call");
    if (!imports.some((i) => i.module === "extism:host/env"))
      problems.push("imports nothing from extism:host/env");
  } else if (!reactor && !exports.includes("_start"))
    problems.push("exports neither _start nor __guest_call");
  if (reactor && exports.includes("_start")) problems.push("exports both _start and __guest_call");
  if (expect === "command" && reactor) problems.push("should be a command but exports __guest_call");
  if (expect !== undefined && expect !== "command" && expect !== "extism" && !reactor) {
    problems.push("should be a reactor");
  }
  if ((expect === "c-reactor" || expect === "as-reactor") && !exports.includes("_initialize")) {
    problems.push("should export _initialize");
  }
  const importModules = new Set(imports.map((i) => i.module));
  if (expect === "c-reactor" && importModules.has("env")) problems.push("should not import from env");
  if (expect === "as-reactor" && importModules.has("wasi_snapshot_preview1")) {
    problems.push("should not import WASI (an AssemblyScript std feature pulled it in)");
  }

  const byModule = new Map();
  for (const { module: from, name } of imports) byModule.set(from, [...(byModule.get(from) ?? []), name]);
  const importText =
    [...byModule].map(([from, names]) => `${from}{${names.sort().join(",")}}`).join(" ") || "nothing";
  console.log(
    `  ${basename(path).padEnd(24)} ${expect === "extism" ? "extism " : reactor ? "reactor" : "command"}  ${bytes.length} B  exports ${exports.join(",")}  imports ${importText}`,
  );
  for (const problem of problems) console.error(`check: ${path}: ${problem}`);
  if (problems.length > 0) failed++;
}
process.exit(failed === 0 ? 0 : 1);

// Fallback for machines without Debian's wabt: compiles one WAT file with the npm `wabt` package
// (the same wabt, built to wasm). Usage: node examples/tools/wat2wasm.mjs in.wat -o out.wasm
import { readFileSync, writeFileSync } from "node:fs";
import wabtInit from "wabt";

const [input, flag, output] = process.argv.slice(2);
if (input === undefined || flag !== "-o" || output === undefined) {
  console.error("usage: node examples/tools/wat2wasm.mjs <in.wat> -o <out.wasm>");
  process.exit(2);
}
const wabt = await wabtInit();
// MVP plus the features every Node 20 engine has; the examples use none beyond MVP today.
const parsed = wabt.parseWat(input, readFileSync(input, "utf8"), {
  mutable_globals: true,
  sat_float_to_int: true,
  sign_extension: true,
  multi_value: true,
  bulk_memory: true,
});
try {
  parsed.resolveNames();
  parsed.validate();
  writeFileSync(output, parsed.toBinary({ log: false, write_debug_names: true }).buffer);
} finally {
  parsed.destroy();
}

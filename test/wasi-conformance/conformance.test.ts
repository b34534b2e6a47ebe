import { describe, expect, it } from "vitest";
import { conformanceTable, HAVE_TOOLCHAIN, runConformance } from "./conformance.js";

if (!HAVE_TOOLCHAIN)
  console.warn("skipping WASI conformance: no clang + wasi-libc (scripts/install-toolchain.sh)");

/** Cases node:wasi fails today, each for a reason the table prints; wasmatrix must pass them all. */
const NODE_WASI_FAILS = ["fs-dirs", "fs-escape", "fs-symlink", "poll-stdio", "sockets"];

describe.skipIf(!HAVE_TOOLCHAIN)("WASI conformance (wasi-testsuite layout), beside node:wasi", () => {
  it("passes every case under wasmatrix, including those node:wasi fails", { timeout: 240_000 }, async () => {
    const results = await runConformance();
    console.log(conformanceTable(results));
    expect(results.length).toBeGreaterThanOrEqual(16);
    const failing = results.filter((r) => !r.wasmatrix.pass).map((r) => `${r.name}: ${r.wasmatrix.reason}`);
    expect(failing).toEqual([]);
    // Pins the comparison: a case node:wasi starts passing (or a new one it fails) shows up here.
    expect(results.filter((r) => !r.nodeWasi.pass).map((r) => r.name)).toEqual(NODE_WASI_FAILS);
  });
});

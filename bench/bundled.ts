/**
 * Runs runtime code on the main thread as the workers run it. Under tsx every function carries
 * esbuild's `keepNames` wrapper (`__name`), which costs microseconds per closure created; the
 * workers load an esbuild bundle without it. So code timed here for its in-worker cost is
 * bundled the same way and imported from a temporary file.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

type Esbuild = typeof import("esbuild");

/** The module at `source` (relative to the repository root), bundled like the worker entry. */
export async function importBundled<T>(source: string): Promise<T> {
  const root = new URL("../", import.meta.url);
  // esbuild is the runtime's dependency; resolve it from there, as the runtime does.
  const esbuild = createRequire(new URL("packages/runtime/package.json", root))("esbuild") as Esbuild;
  const result = esbuild.buildSync({
    entryPoints: [fileURLToPath(new URL(source, root))],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    conditions: ["wasmatrix-source"],
    write: false,
    logLevel: "silent",
  });
  const file = join(mkdtempSync(join(tmpdir(), "wasmatrix-bench-")), "bundle.mjs");
  writeFileSync(file, result.outputFiles[0]!.text);
  return (await import(pathToFileURL(file).href)) as T;
}

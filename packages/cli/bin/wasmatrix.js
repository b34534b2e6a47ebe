#!/usr/bin/env node
import { createHash } from "node:crypto";
// The `wasmatrix` command. wasmatrix runs from its TypeScript sources; transpiling them on every
// start (tsx) costs most of a second, so the CLI and its worker entry are bundled with esbuild
// into node_modules/.cache, under a key of the sources' sizes and times: an edit rebuilds the
// bundle once, every other start loads plain JavaScript. Third-party packages stay external.
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const packages = join(root, "packages");

function sourcesKey() {
  const hash = createHash("sha256");
  for (const pkg of readdirSync(packages).sort()) {
    const src = join(packages, pkg, "src");
    if (!existsSync(src)) continue;
    for (const name of readdirSync(src, { recursive: true, encoding: "utf8" }).sort()) {
      if (!name.endsWith(".ts") || name.endsWith(".test.ts")) continue;
      const stat = statSync(join(src, name));
      hash.update(`${pkg}/${name}:${stat.size}:${stat.mtimeMs}\n`);
    }
  }
  return hash.digest("hex").slice(0, 16);
}

async function bundle(dir) {
  const esbuild = await import("esbuild");
  const workspaceOnly = {
    name: "workspace-only",
    setup(build) {
      build.onResolve({ filter: /^[^./]/ }, (args) =>
        args.path.startsWith("@wasmatrix/") || args.path.startsWith("node:") ? undefined : { external: true },
      );
    },
  };
  const common = {
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    write: false,
    logLevel: "silent",
  };
  const [cli, worker] = await Promise.all([
    esbuild.build({ ...common, entryPoints: [join(packages, "cli/src/main.ts")], plugins: [workspaceOnly] }),
    esbuild.build({ ...common, entryPoints: [join(packages, "runtime/src/worker/entry.ts")] }),
  ]);
  const staging = `${dir}.${process.pid}.tmp`;
  mkdirSync(staging, { recursive: true });
  writeFileSync(join(staging, "main.mjs"), cli.outputFiles[0].text);
  // The runtime looks for its worker entry beside itself: in the bundle, that is here.
  writeFileSync(join(staging, "entry.js"), worker.outputFiles[0].text);
  writeFileSync(join(staging, "package.json"), '{"type":"module"}\n');
  try {
    renameSync(staging, dir);
  } catch {
    // Another process built the same bundle first.
    rmSync(staging, { recursive: true, force: true });
  }
  // Bundles of older sources go once nothing can still be running them: daemons started from a
  // bundle load its worker entry long after they start, so only day-old ones are removed.
  const dayAgo = Date.now() - 24 * 60 * 60 * 1000;
  for (const old of readdirSync(dirname(dir))) {
    const path = join(dirname(dir), old);
    if (path !== dir && statSync(path).mtimeMs < dayAgo) rmSync(path, { recursive: true, force: true });
  }
}

let main;
try {
  const dir = join(root, "node_modules/.cache/wasmatrix-cli", sourcesKey());
  if (!existsSync(join(dir, "main.mjs"))) await bundle(dir);
  main = pathToFileURL(join(dir, "main.mjs")).href;
} catch {
  main = null;
}
if (main === null) {
  // No esbuild or no writable cache: run the sources through tsx instead, only slower.
  const { register } = await import("tsx/esm/api");
  register();
  main = "../src/main.ts";
}
await import(main);

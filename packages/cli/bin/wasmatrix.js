#!/usr/bin/env node
// The `wasmatrix` command. Installed from the packed tarball, it runs the bundle in ../dist
// (scripts/bundle.mjs, run by `prepack`). In a checkout it runs the TypeScript sources as they
// are now: transpiling them on every start (tsx) costs most of a second, so they are bundled
// with the same script into node_modules/.cache under a key of the sources' sizes and times; an
// edit rebuilds the bundle once, every other start loads plain JavaScript.
import { createHash } from "node:crypto";
import { existsSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const cliDir = fileURLToPath(new URL("../", import.meta.url));

function sourcesKey(packages) {
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

async function fromCheckout() {
  const root = join(cliDir, "../..");
  const dir = join(root, "node_modules/.cache/wasmatrix-cli", sourcesKey(join(root, "packages")));
  if (!existsSync(join(dir, "main.mjs"))) {
    const { bundle } = await import("../scripts/bundle.mjs");
    const staging = await bundle(dir);
    try {
      renameSync(staging, dir);
    } catch {
      // Another process built the same bundle first.
      rmSync(staging, { recursive: true, force: true });
    }
    // Bundles of older sources go once nothing can still be running them: daemons started from
    // a bundle load its worker entry long after they start, so only day-old ones are removed.
    const dayAgo = Date.now() - 24 * 60 * 60 * 1000;
    for (const old of readdirSync(dirname(dir))) {
      const path = join(dirname(dir), old);
      if (path !== dir && statSync(path).mtimeMs < dayAgo) rmSync(path, { recursive: true, force: true });
    }
  }
  return pathToFileURL(join(dir, "main.mjs")).href;
}

let main;
if (!existsSync(join(cliDir, "src/main.ts"))) {
  main = pathToFileURL(join(cliDir, "dist/main.mjs")).href;
} else {
  try {
    main = await fromCheckout();
  } catch {
    // No esbuild or no writable cache: run the sources through tsx instead, only slower.
    // The workspace packages resolve to their sources under the `wasmatrix-source` condition.
    const { register } = await import("node:module");
    register(
      "data:text/javascript,export function resolve(s, c, next) { return next(s, { ...c, conditions: [...c.conditions, 'wasmatrix-source'] }); }",
    );
    const tsx = await import("tsx/esm/api");
    tsx.register();
    main = "../src/main.ts";
  }
}
await import(main);

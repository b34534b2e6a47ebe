/**
 * Bundles the `wasmatrix` command: the CLI with every workspace package inlined from its
 * TypeScript sources (main.mjs), and the runtime's worker entry (entry.js, beside it, where the
 * runtime looks for it). Third-party packages stay external and must be the CLI's own
 * `dependencies`, so that the packed tarball installs with nothing but the npm registry; a
 * bundle that imports anything else is refused here rather than failing on a user's machine.
 *
 * Used two ways: bin/wasmatrix.js bundles into node_modules/.cache when run from a checkout, and
 * `npm run build -w @wasmatrix/cli` (also `prepack`) bundles into packages/cli/dist for the tarball.
 * Run directly: `node packages/cli/scripts/bundle.mjs [outDir]` (default packages/cli/dist).
 */
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { builtinModules } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const cliDir = fileURLToPath(new URL("../", import.meta.url));
const packagesDir = join(cliDir, "..");

/** The workspace packages' exports map sends this condition to src/*.ts (docs/architecture.md). */
export const SOURCE_CONDITION = "wasmatrix-source";

const manifest = JSON.parse(readFileSync(join(cliDir, "package.json"), "utf8"));
const RUNTIME_DEPENDENCIES = new Set(Object.keys(manifest.dependencies ?? {}));
const BUILTINS = new Set(builtinModules);

/** `@scope/name/deep` → `@scope/name`, `name/deep` → `name`. */
function packageName(specifier) {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
}

const workspaceInlined = {
  name: "workspace-inlined",
  setup(build) {
    build.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith("@wasmatrix/") || args.path.startsWith("node:")) return undefined;
      if (BUILTINS.has(args.path)) return { external: true };
      const name = packageName(args.path);
      if (!RUNTIME_DEPENDENCIES.has(name)) {
        return {
          errors: [
            {
              text: `${name} (imported by ${args.importer}) is not a dependency of @wasmatrix/cli; add it to packages/cli/package.json "dependencies"`,
            },
          ],
        };
      }
      return { external: true };
    });
  },
};

/** Writes main.mjs, entry.js and a package.json marking them as modules into `outDir`, atomically. */
export async function bundle(outDir) {
  const esbuild = await import("esbuild");
  const common = {
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    conditions: [SOURCE_CONDITION],
    write: false,
    logLevel: "silent",
  };
  const [cli, worker] = await Promise.all([
    esbuild.build({
      ...common,
      entryPoints: [join(packagesDir, "cli/src/main.ts")],
      plugins: [workspaceInlined],
    }),
    // The worker is self-contained: it starts from a file path, with no package around it.
    esbuild.build({ ...common, entryPoints: [join(packagesDir, "runtime/src/worker/entry.ts")] }),
  ]);
  const staging = `${outDir}.${process.pid}.tmp`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  writeFileSync(join(staging, "main.mjs"), cli.outputFiles[0].text);
  writeFileSync(join(staging, "entry.js"), worker.outputFiles[0].text);
  writeFileSync(join(staging, "package.json"), '{"type":"module"}\n');
  // `up --example` starts it from beside the bundle, so that an installed CLI has it too.
  const example = join(packagesDir, "..", "examples/build/echo_reactor.wasm");
  if (existsSync(example)) copyFileSync(example, join(staging, "echo_reactor.wasm"));
  return staging;
}

/** Replaces `outDir` with a fresh bundle (the packed form). */
export async function bundleInto(outDir) {
  const staging = await bundle(outDir);
  rmSync(outDir, { recursive: true, force: true });
  renameSync(staging, outDir);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const outDir = process.argv[2] ?? join(cliDir, "dist");
  try {
    await bundleInto(outDir);
  } catch (error) {
    console.error(`bundle: ${error.message}`);
    process.exit(1);
  }
  console.log(`bundle: wrote ${outDir}/main.mjs and entry.js`);
}

/**
 * The import rules of the workspace (docs/architecture.md, "Dependency rules"), checked by
 * `npm run deps` in `npm test` and pinned by test/dependency-rules.test.ts. The graph reads one
 * way: core ← proto / runtime / etcd ← libraries ← process layer, and client ← cli.
 *
 * Violations present when the check was introduced are listed in
 * .dependency-cruiser-known-violations.json and reported as warnings; any new one fails. Refresh
 * that list only when removing entries: `npm run deps:baseline`.
 */

/** Packages that others build on and that must not run as, or reach for, a process or the SDK. */
const LIBRARIES = "(core|proto|runtime|etcd|oci|providers|node-agent|control-plane|embedded)";

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "core-imports-no-package",
      comment: "core is the pure centre of the graph: it imports no other workspace package",
      severity: "error",
      from: { path: "^packages/core/" },
      to: { path: "^packages/(?!core/)" },
    },
    {
      name: "foundation-imports-only-core",
      comment: "proto, runtime, etcd and oci sit directly on core and import no other workspace package",
      severity: "error",
      from: { path: "^packages/(proto|runtime|etcd|oci)/" },
      to: { path: "^packages/(?!core/|$1/)" },
    },
    {
      name: "library-imports-no-sdk-or-process",
      comment:
        "a library package does not import the user's SDK (client), the CLI or the process layer (daemons): dialers live beside the protocol, processes on top",
      severity: "error",
      from: { path: `^packages/${LIBRARIES}/` },
      to: { path: "^packages/(client|cli|daemons)/" },
    },
    {
      name: "only-the-cli-imports-the-cli",
      severity: "error",
      from: { path: "^packages/(?!cli/)" },
      to: { path: "^packages/cli/" },
    },
    {
      name: "no-import-cycle",
      comment: "file-level import cycles make load order and refactoring fragile",
      severity: "error",
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "(^|/)(node_modules|dist)/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    // Workspace packages resolve to their sources, as in tests (the exports' wasmatrix-source).
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["wasmatrix-source", "import", "require", "node", "default", "types"],
      extensions: [".ts", ".js", ".mjs", ".cjs", ".d.ts"],
    },
  },
};

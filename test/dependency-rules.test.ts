import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { cruise, type IConfiguration, type ICruiseResult } from "dependency-cruiser";
import { afterEach, describe, expect, it } from "vitest";

/**
 * The import rules in .dependency-cruiser.cjs (run on the real tree by `npm run deps` in
 * `npm test`) catch what they are for: each rule is run over a small tree laid out like
 * packages/, with one offending import, and must name it.
 */

const config = createRequire(import.meta.url)("../.dependency-cruiser.cjs") as IConfiguration;

let dir: string | undefined;
afterEach(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

/** Violations (rule name, from, to) of the workspace's rules over a tree of `files`. */
async function violations(files: Record<string, string>): Promise<string[]> {
  dir = mkdtempSync(join(tmpdir(), "wasmatrix-deps-"));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  const { tsConfig: _ignored, ...options } = config.options ?? {};
  const previous = process.cwd();
  process.chdir(dir);
  try {
    const { output } = await cruise(["packages"], {
      ...options,
      ruleSet: { forbidden: config.forbidden },
      validate: true,
    });
    const result = output as ICruiseResult;
    return result.summary.violations.map((v) =>
      v.cycle === undefined ? `${v.rule.name}: ${v.from} → ${v.to}` : `${v.rule.name}: ${v.from}`,
    );
  } finally {
    process.chdir(previous);
  }
}

describe("the workspace's dependency rules", () => {
  it("accept imports that follow the graph: core ← proto ← client ← cli", async () => {
    expect(
      await violations({
        "packages/core/src/index.ts": "export const a = 1;\n",
        "packages/proto/src/index.ts": 'import { a } from "../../core/src/index.js";\nexport const b = a;\n',
        "packages/client/src/index.ts":
          'import { b } from "../../proto/src/index.js";\nexport const c = b;\n',
        "packages/cli/src/main.ts": 'import { c } from "../../client/src/index.js";\nexport const d = c;\n',
      }),
    ).toEqual([]);
  });

  it("refuse core importing another package", async () => {
    expect(
      await violations({
        "packages/core/src/index.ts": 'import { b } from "../../proto/src/index.js";\nexport const a = b;\n',
        "packages/proto/src/index.ts": "export const b = 1;\n",
      }),
    ).toContain("core-imports-no-package: packages/core/src/index.ts → packages/proto/src/index.ts");
  });

  it("refuse proto, runtime or etcd importing anything but core", async () => {
    expect(
      await violations({
        "packages/runtime/src/index.ts":
          'import { b } from "../../etcd/src/index.js";\nexport const a = b;\n',
        "packages/etcd/src/index.ts": "export const b = 1;\n",
      }),
    ).toContain("foundation-imports-only-core: packages/runtime/src/index.ts → packages/etcd/src/index.ts");
  });

  it("refuse a library package importing the client, the CLI or the process layer", async () => {
    const found = await violations({
      "packages/node-agent/src/agent.ts":
        'import { c } from "../../client/src/index.js";\nexport const a = c;\n',
      "packages/providers/src/daemon.ts":
        'import { d } from "../../daemons/src/index.js";\nexport const a = d;\n',
      "packages/client/src/index.ts": "export const c = 1;\n",
      "packages/daemons/src/index.ts": "export const d = 1;\n",
    });
    expect(found).toContain(
      "library-imports-no-sdk-or-process: packages/node-agent/src/agent.ts → packages/client/src/index.ts",
    );
    expect(found).toContain(
      "library-imports-no-sdk-or-process: packages/providers/src/daemon.ts → packages/daemons/src/index.ts",
    );
  });

  it("refuse a file-level import cycle, even through type-only imports", async () => {
    expect(
      await violations({
        "packages/runtime/src/a.ts": 'import type { B } from "./b.js";\nexport type A = { b?: B };\n',
        "packages/runtime/src/b.ts": 'import type { A } from "./a.js";\nexport type B = { a?: A };\n',
      }),
    ).toContain("no-import-cycle: packages/runtime/src/a.ts");
  });
});

import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { afterAll, describe, expect, it } from "vitest";

/**
 * Every package says what it is in a README (purpose, main types, who depends on it, a usage
 * snippet), and what it says cannot rot: the dependency lines must match the package.json files,
 * and every ```ts snippet of packages/*\/README.md and docs/architecture.md must typecheck
 * against the packages' sources with the workspace's compiler options.
 */

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const PACKAGES = readdirSync(join(ROOT, "packages")).sort();
/** Compiling the snippets loads most of the workspace's sources. */
const TYPECHECK_TIMEOUT_MS = 180_000;

interface Manifest {
  name: string;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

const manifests = new Map<string, Manifest>(
  PACKAGES.map((dir) => [dir, JSON.parse(readFileSync(join(ROOT, "packages", dir, "package.json"), "utf8"))]),
);

function workspaceDeps(manifest: Manifest): string[] {
  return Object.keys({ ...manifest.dependencies, ...manifest.devDependencies })
    .filter((name) => name.startsWith("@wasmatrix/"))
    .sort();
}

function readme(dir: string): string {
  return readFileSync(join(ROOT, "packages", dir, "README.md"), "utf8");
}

/** The package names in backticks on the line that starts with `label`. */
function namesOn(text: string, label: string): string[] {
  const line = text.split("\n").find((l) => l.startsWith(label));
  if (line === undefined) throw new Error(`no line starting with ${label}`);
  return [...line.matchAll(/`(@wasmatrix\/[a-z-]+)`/g)].map((m) => m[1] as string).sort();
}

function tsBlocks(text: string): string[] {
  return [...text.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] as string);
}

describe("package READMEs", () => {
  it.each(PACKAGES)(
    "packages/%s/README.md names the packages it depends on and the ones that use it",
    (dir) => {
      const manifest = manifests.get(dir) as Manifest;
      const text = readme(dir);
      expect(text.startsWith(`# ${manifest.name}\n`)).toBe(true);
      const usedBy = [...manifests.values()]
        .filter((m) => workspaceDeps(m).includes(manifest.name))
        .map((m) => m.name);
      expect(namesOn(text, "**Used by:**")).toEqual(usedBy.sort());
      if (dir !== "cli") {
        expect(namesOn(text, "**Depends on:**")).toEqual(workspaceDeps(manifest));
        expect(text).toContain("## Main types");
        expect(tsBlocks(text).length).toBeGreaterThan(0);
      }
    },
  );

  describe("snippets", () => {
    const work = join(ROOT, ".tmp");
    mkdirSync(work, { recursive: true });
    // Inside the checkout, so that `@wasmatrix/*` and third-party imports resolve as in the repo.
    const dir = mkdtempSync(join(work, "readme-snippets-"));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it(
      "every ```ts block of the package READMEs and docs/architecture.md typechecks",
      () => {
        const sources: [string, string][] = [
          ...PACKAGES.map((p): [string, string] => [`packages/${p}/README.md`, readme(p)]),
          ["docs/architecture.md", readFileSync(join(ROOT, "docs/architecture.md"), "utf8")],
        ];
        const files: string[] = [];
        const origin = new Map<string, string>();
        for (const [path, text] of sources) {
          tsBlocks(text).forEach((block, i) => {
            const file = join(dir, `${path.replaceAll("/", "_")}.${i + 1}.ts`);
            // Each snippet is a module of its own, so their top-level names do not collide.
            writeFileSync(file, block.includes("import ") ? block : `${block}\nexport {};\n`);
            files.push(file);
            origin.set(file, `${path} snippet ${i + 1}`);
          });
        }
        expect(files.length).toBeGreaterThanOrEqual(PACKAGES.length - 1);

        const config = ts.getParsedCommandLineOfConfigFile(
          join(ROOT, "tsconfig.json"),
          {},
          {
            ...ts.sys,
            onUnRecoverableConfigFileDiagnostic: (d) => {
              throw new Error(ts.flattenDiagnosticMessageText(d.messageText, "\n"));
            },
          },
        );
        if (config === undefined) throw new Error("tsconfig.json could not be read");
        const program = ts.createProgram(files, { ...config.options, noEmit: true });
        const problems = ts
          .getPreEmitDiagnostics(program)
          .filter((d) => d.file !== undefined && files.includes(d.file.fileName))
          .map((d) => {
            const file = d.file as ts.SourceFile;
            const { line } = file.getLineAndCharacterOfPosition(d.start ?? 0);
            const where = `${origin.get(file.fileName) ?? relative(ROOT, file.fileName)}, line ${line + 1}`;
            return `${where}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`;
          });
        expect(problems).toEqual([]);
      },
      TYPECHECK_TIMEOUT_MS,
    );
  });
});

import { execFile } from "node:child_process";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * The set-up scripts on a machine with the wrong Node.js (Debian 12 ships 18): a `node` on the
 * PATH that reports a chosen version stands in for it.
 */

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function script(name: string, nodeDir: string): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      "bash",
      [join(ROOT, "scripts", name)],
      { cwd: ROOT, env: { ...process.env, PATH: `${nodeDir}${delimiter}${process.env["PATH"]}` } },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe("the Node.js check of set-up and start", () => {
  let dir: string;
  const fakeNode = async (version: string) => {
    await writeFile(join(dir, "node"), `#!/bin/sh\necho ${version}\n`);
    await chmod(join(dir, "node"), 0o755);
  };
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "wasmatrix-node-"));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("accepts Node.js 20.6 and newer and refuses older ones, saying how to install 20", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: 30 }),
        fc.nat({ max: 20 }),
        fc.nat({ max: 9 }),
        async (major, minor, patch) => {
          await fakeNode(`v${major}.${minor}.${patch}`);
          const result = await script("check-node.sh", dir);
          const newEnough = major > 20 || (major === 20 && minor >= 6);
          expect(result.code, `v${major}.${minor}.${patch}`).toBe(newEnough ? 0 : 1);
          if (!newEnough) {
            expect(result.stderr).toContain(`this is Node.js v${major}.${minor}.${patch}`);
            expect(result.stderr).toContain("nvm install 20");
          }
        },
      ),
      { numRuns: 12 },
    );
  });

  it("stops set-up and npm start before anything runs on Debian 12's Node.js 18", async () => {
    await fakeNode("v18.19.0");
    const [setup, start] = await Promise.all([script("setup.sh", dir), script("start.sh", dir)]);
    for (const result of [setup, start]) {
      expect(result.code).toBe(1);
      expect(result.stderr).toContain("Debian 12 ships Node.js 18");
      expect(result.stdout).not.toContain("install-toolchain");
    }
  });
});

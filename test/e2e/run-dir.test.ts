import { execFile, execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/** `wasmatrix run --dir` through the real CLI, as `wasmtime run --dir` is used. */

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = join(ROOT, "packages/cli/bin/wasmatrix.js");
const CLANG = process.env["WASI_CLANG"] ?? "/usr/bin/clang";
const SYSROOT =
  process.env["WASI_SYSROOT"] ??
  ["/usr/share/wasi-sysroot", "/opt/wasi-sdk/share/wasi-sysroot"].find((dir) => existsSync(dir)) ??
  (existsSync("/usr/lib/wasm32-wasi") ? "/usr" : undefined);
const toolchain = existsSync(CLANG) && SYSROOT !== undefined;

const COPY_C = `
#include <errno.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
  if (argc != 3) { fprintf(stderr, "usage: copy FROM TO\\n"); return 2; }
  FILE *in = fopen(argv[1], "r");
  if (!in) { printf("open %s: %s\\n", argv[1], strerror(errno)); return 3; }
  char buf[256] = {0};
  size_t n = fread(buf, 1, sizeof buf - 1, in);
  fclose(in);
  FILE *out = fopen(argv[2], "w");
  if (!out) { printf("create %s: %s\\n", argv[2], strerror(errno)); return 4; }
  for (size_t i = 0; i < n; i++) fputc(buf[i] >= 'a' && buf[i] <= 'z' ? buf[i] - 32 : buf[i], out);
  fclose(out);
  printf("copied %zu bytes\\n", n);
  return 0;
}
`;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(...args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: ROOT, timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

describe.skipIf(!toolchain)("wasmatrix run --dir", () => {
  let dir: string;
  let wasm: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "wasmatrix-run-dir-"));
    writeFileSync(join(dir, "copy.c"), COPY_C);
    wasm = join(dir, "copy.wasm");
    execFileSync(CLANG, [
      "--target=wasm32-wasi",
      `--sysroot=${SYSROOT}`,
      "-O1",
      "-o",
      wasm,
      join(dir, "copy.c"),
    ]);
    mkdirSync(join(dir, "in"));
    mkdirSync(join(dir, "out"));
    writeFileSync(join(dir, "in", "note.txt"), "hello from the host\n");
    writeFileSync(join(dir, "secret.txt"), "not for guests\n");
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("reads from one preopen and writes into another, under the guest paths given", {
    timeout: 90_000,
  }, async () => {
    const result = await cli(
      "run",
      "--dir",
      `${join(dir, "in")}::/input:ro`,
      "--dir",
      `${join(dir, "out")}::/output`,
      wasm,
      "--",
      "/input/note.txt",
      "/output/NOTE.txt",
    );
    expect(result).toMatchObject({ code: 0, stdout: "copied 20 bytes\n" });
    expect(readFileSync(join(dir, "out", "NOTE.txt"), "utf8")).toBe("HELLO FROM THE HOST\n");
  });

  it("refuses writes below a :ro preopen and paths out of it, and the guest sees the errno", {
    timeout: 90_000,
  }, async () => {
    const readOnly = await cli(
      "run",
      "--dir",
      `${join(dir, "in")}::/input:ro`,
      wasm,
      "--",
      "/input/note.txt",
      "/input/x",
    );
    expect(readOnly).toMatchObject({ code: 4, stdout: "create /input/x: Operation not permitted\n" });
    expect(existsSync(join(dir, "in", "x"))).toBe(false);
    const climbed = await cli(
      "run",
      "--dir",
      `${join(dir, "in")}::/input`,
      wasm,
      "--",
      "/input/../secret.txt",
      "/input/y",
    );
    expect(climbed.code).toBe(3);
    expect(climbed.stdout).toMatch(/^open \/input\/\.\.\/secret\.txt: /);
  });

  it("says what to do when the host directory does not exist", { timeout: 90_000 }, async () => {
    const result = await cli("run", "--dir", `${join(dir, "nope")}::/data`, wasm);
    expect(result.code).toBe(125);
    expect(result.stderr).toMatch(/is not a directory; create it first/);
  });
});

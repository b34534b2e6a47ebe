import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { OutputRing } from "../output/index.js";
import { createWasi, WasiExit } from "./index.js";

/**
 * A real wasi-libc program, when a toolchain is installed: Debian's `clang`, `lld`, `wasi-libc`
 * and `libclang-rt-dev-wasm32`, or wasi-sdk's sysroot. WASI_CLANG and WASI_SYSROOT point elsewhere.
 */
const CLANG = process.env["WASI_CLANG"] ?? "/usr/bin/clang";
// Debian puts wasi-libc in /usr/{include,lib}/wasm32-wasi, which clang finds from a sysroot of /usr.
const SYSROOT =
  process.env["WASI_SYSROOT"] ??
  ["/usr/share/wasi-sysroot", "/opt/wasi-sdk/share/wasi-sysroot"].find((dir) => existsSync(dir)) ??
  (existsSync("/usr/lib/wasm32-wasi") ? "/usr" : undefined);
const toolchain = existsSync(CLANG) && SYSROOT !== undefined;

const HELLO_C = `
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv) {
  for (int i = 0; i < argc; i++) printf("argv[%d]=%s\\n", i, argv[i]);
  const char *greeting = getenv("GREETING");
  printf("GREETING=%s\\n", greeting ? greeting : "(unset)");
  FILE *f = fopen("/etc/passwd", "r");
  printf("fopen=%s\\n", f ? "opened" : "failed");
  printf("time=%s\\n", time(NULL) > 1600000000 ? "plausible" : "wrong");
  fprintf(stderr, "to stderr\\n");
  return argc + 40;
}
`;

function compileHello(): Uint8Array<ArrayBuffer> {
  const dir = mkdtempSync(join(tmpdir(), "wasmatrix-wasi-c-"));
  try {
    writeFileSync(join(dir, "hello.c"), HELLO_C);
    execFileSync(
      CLANG,
      [
        "--target=wasm32-wasi",
        `--sysroot=${SYSROOT}`,
        "-O2",
        "-o",
        join(dir, "hello.wasm"),
        join(dir, "hello.c"),
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    return new Uint8Array(readFileSync(join(dir, "hello.wasm")));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("WASI with a wasi-libc program", () => {
  it.skipIf(!toolchain)(
    "runs a C hello that reads argv and env, finds no files and exits with its code",
    async () => {
      const stdout = new OutputRing(4096);
      const stderr = new OutputRing(4096);
      let memory: WebAssembly.Memory | undefined;
      const wasi = createWasi({
        args: ["hello", "wörld"],
        env: { GREETING: "hi there" },
        stdout,
        stderr,
        getMemory: () => memory!,
      });
      const module = await WebAssembly.compile(compileHello());
      const instance = await WebAssembly.instantiate(module, { wasi_snapshot_preview1: wasi.imports });
      memory = instance.exports["memory"] as WebAssembly.Memory;
      let exit: unknown;
      try {
        (instance.exports["_start"] as () => void)();
      } catch (error) {
        exit = error;
      }
      expect(exit).toBeInstanceOf(WasiExit);
      expect((exit as WasiExit).code).toBe(42);
      expect(stdout.text()).toBe(
        "argv[0]=hello\nargv[1]=wörld\nGREETING=hi there\nfopen=failed\ntime=plausible\n",
      );
      expect(stderr.text()).toBe("to stderr\n");
    },
  );
});

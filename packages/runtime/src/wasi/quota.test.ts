import { execFileSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Runtime } from "../runtime.js";

const CLANG = process.env["WASI_CLANG"] ?? "/usr/bin/clang";
const SYSROOT =
  process.env["WASI_SYSROOT"] ??
  ["/usr/share/wasi-sysroot", "/opt/wasi-sdk/share/wasi-sysroot"].find((dir) => existsSync(dir)) ??
  (existsSync("/usr/lib/wasm32-wasi") ? "/usr" : undefined);
const toolchain = existsSync(CLANG) && SYSROOT !== undefined;

/**
 * Fills its preopen until each quota answers, reporting the errno, then shows it carries on:
 * after freeing space, descriptors and entries, the same calls succeed again.
 */
const FILLER_C = `
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char block[4096];

int main(void) {
  int fd = open("/data/big", O_CREAT | O_WRONLY, 0644);
  if (fd < 0) { printf("open big: %s\\n", strerror(errno)); return 1; }
  long total = 0;
  for (;;) {
    ssize_t n = write(fd, block, sizeof block);
    if (n < 0) { printf("bytes: %s after %ld\\n", errno == EDQUOT ? "EDQUOT" : strerror(errno), total); break; }
    total += n;
  }
  if (ftruncate(fd, 0) != 0) { printf("ftruncate: %s\\n", strerror(errno)); return 1; }
  printf("after truncate: write %s\\n", write(fd, block, 100) == 100 ? "ok" : strerror(errno));
  close(fd);

  int files = 0;
  char name[64];
  for (;;) {
    snprintf(name, sizeof name, "/data/f%d", files);
    int f = open(name, O_CREAT | O_WRONLY, 0644);
    if (f < 0) { printf("inodes: %s after %d\\n", errno == EDQUOT ? "EDQUOT" : strerror(errno), files); break; }
    close(f);
    files++;
  }
  unlink("/data/f0");
  int again = open("/data/again", O_CREAT | O_WRONLY, 0644);
  printf("after unlink: create %s\\n", again >= 0 ? "ok" : strerror(errno));
  close(again);

  int fds[64];
  int open_count = 0;
  for (;;) {
    int f = open("/data/big", O_RDONLY);
    if (f < 0) { printf("descriptors: %s after %d\\n", errno == EMFILE ? "EMFILE" : strerror(errno), open_count); break; }
    fds[open_count++] = f;
    if (open_count == 64) break;
  }
  close(fds[0]);
  int last = open("/data/big", O_RDONLY);
  printf("after close: open %s\\n", last >= 0 ? "ok" : strerror(errno));
  return 0;
}
`;

describe.skipIf(!toolchain)("WASI filesystem quotas", () => {
  let dir: string;
  let wasm: Uint8Array<ArrayBuffer>;
  let runtime: Runtime;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "wasmatrix-quota-"));
    writeFileSync(join(dir, "filler.c"), FILLER_C);
    execFileSync(CLANG, [
      "--target=wasm32-wasi",
      `--sysroot=${SYSROOT}`,
      "-O1",
      "-o",
      join(dir, "filler.wasm"),
      join(dir, "filler.c"),
    ]);
    wasm = new Uint8Array(readFileSync(join(dir, "filler.wasm")));
    runtime = new Runtime({ workers: 1 });
  });

  afterAll(async () => {
    await runtime.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("answers DQUOT for bytes and entries and MFILE for descriptors, and the guest carries on to exit 0", async () => {
    const data = join(dir, "data");
    mkdirSync(data);
    // Already there: counted against the quota from the start.
    writeFileSync(join(data, "existing"), "x".repeat(1000));
    const compiled = await runtime.compile(wasm);
    const instance = await runtime.instantiate(compiled, {
      instanceId: "filler",
      kind: "command",
      args: ["filler"],
      preopens: [{ hostPath: data, guestPath: "/data" }],
      fsQuota: { maxBytes: 64 * 1024, maxInodes: 10, maxOpenFiles: 8 },
    });
    const outcome = await instance.run();
    const stdout = instance.stdout.text();
    await instance.dispose();
    expect(stdout).toBe(
      [
        // 64 KiB less the 1000 bytes already there: 15 whole blocks, then a short write of the rest.
        `bytes: EDQUOT after ${64 * 1024 - 1000}`,
        "after truncate: write ok",
        // 10 entries: "existing", "big", then f0…f7.
        "inodes: EDQUOT after 8",
        "after unlink: create ok",
        // 8 descriptors: stdio and the preopen take 4.
        "descriptors: EMFILE after 4",
        "after close: open ok",
        "",
      ].join("\n"),
    );
    expect(outcome).toMatchObject({ status: "ok", exitCode: 0 });
    expect(readdirSync(data).sort()).toContain("again");
  });
});

describe.skipIf(!toolchain)("WASI host descriptors after a forced stop", () => {
  const HOLDER_C = `
#include <fcntl.h>
#include <stdio.h>
int main(void) {
  int fd = open("/data/held", O_CREAT | O_WRONLY, 0644);
  printf("opened %d\\n", fd);
  fflush(stdout);
  for (;;) {}
}
`;

  it("closes the files a guest held when its run is stopped by force", { timeout: 120_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "wasmatrix-held-"));
    const runtime = new Runtime({ workers: 1 });
    try {
      writeFileSync(join(dir, "holder.c"), HOLDER_C);
      execFileSync(CLANG, [
        "--target=wasm32-wasi",
        `--sysroot=${SYSROOT}`,
        "-O1",
        "-o",
        join(dir, "holder.wasm"),
        join(dir, "holder.c"),
      ]);
      mkdirSync(join(dir, "data"));
      const held = join(dir, "data", "held");
      /** How many of this process's descriptors point at the held file. */
      const holding = () =>
        readdirSync("/proc/self/fd").filter((fd) => {
          try {
            return readlinkSync(`/proc/self/fd/${fd}`) === held;
          } catch {
            return false;
          }
        }).length;
      const compiled = await runtime.compile(new Uint8Array(readFileSync(join(dir, "holder.wasm"))));
      const instance = await runtime.instantiate(compiled, {
        instanceId: "holder",
        kind: "command",
        preopens: [{ hostPath: join(dir, "data"), guestPath: "/data" }],
        limits: { fuel: Number.MAX_SAFE_INTEGER },
      });
      // The guest spins after opening: its output is not forwarded meanwhile, the descriptor is seen.
      const running = instance.run().catch(() => undefined);
      await until(() => holding() === 1, "the guest to open the file");
      await instance.dispose();
      await running;
      await until(() => holding() === 0, "the descriptor to be closed");
    } finally {
      await runtime.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

async function until(condition: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ErrorCode, parseAssignment, WasmatrixError } from "@wasmatrix/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NodeAgent } from "./agent.js";
import { instanceDirectory } from "./filesystem.js";

const CLANG = process.env["WASI_CLANG"] ?? "/usr/bin/clang";
const SYSROOT =
  process.env["WASI_SYSROOT"] ??
  ["/usr/share/wasi-sysroot", "/opt/wasi-sdk/share/wasi-sysroot"].find((dir) => existsSync(dir)) ??
  (existsSync("/usr/lib/wasm32-wasi") ? "/usr" : undefined);
const toolchain = existsSync(CLANG) && SYSROOT !== undefined;
const INCLUDE = fileURLToPath(new URL("../../../examples/include/", import.meta.url));

/** A reactor keeping notes in /data, and trying to write into /config. */
const NOTES_C = `
#define WASMATRIX_REACTOR
#include "wasmatrix.h"
#include <errno.h>
#include <stdio.h>

static int add(const uint8_t *payload, size_t len) {
  FILE *f = fopen("/data/notes.txt", "a");
  if (!f) return wasmatrix_fail(strerror(errno));
  fwrite(payload, 1, len, f);
  fputc('\\n', f);
  if (fclose(f) != 0) return wasmatrix_fail(strerror(errno));
  return wasmatrix_respond_str("added");
}

static int list(const uint8_t *payload, size_t len) {
  (void)payload; (void)len;
  static char buf[4096];
  FILE *f = fopen("/data/notes.txt", "r");
  if (!f) return wasmatrix_fail(strerror(errno));
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  return wasmatrix_respond(buf, n);
}

static int config(const uint8_t *payload, size_t len) {
  (void)payload; (void)len;
  FILE *f = fopen("/config/x", "w");
  if (f) { fclose(f); return wasmatrix_respond_str("wrote"); }
  return wasmatrix_respond_str(strerror(errno));
}

WASMATRIX_INIT {
  wasmatrix_register("add", add);
  wasmatrix_register("list", list);
  wasmatrix_register("config", config);
}
`;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

describe.skipIf(!toolchain)("the filesystem capability on a node", () => {
  let dir: string;
  let dataDir: string;
  let module: Uint8Array;
  let agent: NodeAgent;
  const assignments = [parseAssignment("filesystem=fs:write:/data,fs:read:/config")];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "wasmatrix-node-fs-"));
    dataDir = join(dir, "data-dir");
    writeFileSync(join(dir, "notes.c"), NOTES_C);
    execFileSync(CLANG, [
      "--target=wasm32-wasi",
      `--sysroot=${SYSROOT}`,
      "-mexec-model=reactor",
      "-O1",
      `-I${INCLUDE}`,
      "-o",
      join(dir, "notes.wasm"),
      join(dir, "notes.c"),
    ]);
    module = new Uint8Array(readFileSync(join(dir, "notes.wasm")));
    agent = new NodeAgent({ nodeId: "fs-node", runtime: { workers: 1 }, dataDir });
  });

  afterAll(async () => {
    await agent.close(200);
    rmSync(dir, { recursive: true, force: true });
  });

  async function call(id: string, operation: string, payload = ""): Promise<string> {
    const result = await agent.invoke(id, operation, encoder.encode(payload));
    if (result.guestError !== undefined) return `error: ${result.guestError}`;
    return decoder.decode(result.response ?? new Uint8Array());
  }

  it("keeps a file written in one invocation for the next, and across a restart of the instance", async () => {
    await agent.start({ instanceId: "notes", module, kind: "reactor", assignments });
    expect(await call("notes", "add", "first")).toBe("added");
    expect(await call("notes", "add", "second")).toBe("added");
    expect(await call("notes", "list")).toBe("first\nsecond\n");
    await agent.stop("notes");
    await agent.start({ instanceId: "notes", module, kind: "reactor", assignments });
    expect(await call("notes", "list")).toBe("first\nsecond\n");
    const host = join(
      instanceDirectory(dataDir, "default", "notes"),
      "fs",
      encodeURIComponent("/data"),
      "notes.txt",
    );
    expect(readFileSync(host, "utf8")).toBe("first\nsecond\n");
  });

  it("gives a read-only path for fs:read, and each instance a directory of its own", async () => {
    expect(await call("notes", "config")).toBe("Operation not permitted");
    await agent.start({ instanceId: "other", module, kind: "reactor", assignments });
    expect(await call("other", "list")).toBe("error: No such file or directory");
  });

  it("answers a write past the byte quota with EDQUOT, and the instance serves the next call", async () => {
    const small = new NodeAgent({
      nodeId: "fs-small",
      runtime: { workers: 1 },
      dataDir: join(dir, "small-data"),
      filesystemQuota: { maxBytes: 20 },
    });
    try {
      await small.start({ instanceId: "tight", module, kind: "reactor", assignments });
      const call = async (operation: string, payload = "") => {
        const result = await small.invoke("tight", operation, encoder.encode(payload));
        return result.guestError === undefined
          ? decoder.decode(result.response ?? new Uint8Array())
          : `error: ${result.guestError}`;
      };
      expect(await call("add", "0123456789")).toBe("added");
      expect(await call("add", "abcdefghij")).toBe("error: Quota exceeded");
      // The short write kept what fit: 20 bytes in all.
      expect(await call("list")).toBe("0123456789\nabcdefghi");
      expect(small.get("tight").status).toBe("running");
    } finally {
      await small.close(200);
    }
  });

  it("is refused at start by a node without a data directory, saying what to do", async () => {
    const bare = new NodeAgent({ nodeId: "no-data", runtime: { workers: 1 } });
    try {
      const error = await bare
        .start({ instanceId: "x", module, kind: "reactor", assignments })
        .catch((e) => e);
      expect(WasmatrixError.is(error) && error.code).toBe(ErrorCode.INVALID_REQUEST);
      expect((error as Error).message).toMatch(/--data-dir/);
      expect(bare.servesFilesystem).toBe(false);
      expect(agent.servesFilesystem).toBe(true);
    } finally {
      await bare.close(200);
    }
  });
});

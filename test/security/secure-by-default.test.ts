import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * The CLI as a person runs it: daemons refuse a non-loopback address without TLS (and say how
 * to fix it), and contexts keep a server's address and certificates.
 */
const BIN = fileURLToPath(new URL("../../packages/cli/bin/wasmatrix.js", import.meta.url));

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function wasmatrix(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Result> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("WASMATRIX_")));
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: { ...clean, ...env }, timeout: 30_000 },
      (error, stdout, stderr) =>
        resolve({
          code: error === null ? 0 : typeof error.code === "number" ? error.code : -1,
          stdout,
          stderr,
        }),
    );
  });
}

describe("secure by default", () => {
  for (const command of [
    ["up"],
    ["control-plane"],
    ["node-agent"],
    ["provider", "keyvalue", "--control-plane", "127.0.0.1:1"],
  ]) {
    it(`\`wasmatrix ${command[0]}\` refuses a non-loopback address without TLS, naming the fix`, async () => {
      const result = await wasmatrix([...command, "--listen", "0.0.0.0:0"]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain("INSECURE_LISTEN");
      expect(result.stderr).toContain("--tls-cert");
      expect(result.stderr).toContain("--insecure");
    });
  }

  it("refuses half a set of TLS flags as a usage error", async () => {
    const result = await wasmatrix(["control-plane", "--tls-ca", "ca.crt"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("--tls-cert");
  });
});

describe("contexts", () => {
  let config: string;
  beforeAll(async () => {
    config = await mkdtemp(join(tmpdir(), "wasmatrix-config-"));
  });
  afterAll(() => rm(config, { recursive: true, force: true }));
  const env = () => ({ WASMATRIX_CONFIG_DIR: config });

  it("are added, listed, switched and removed, in a file only its owner can read", {
    timeout: 90_000,
  }, async () => {
    expect(
      (await wasmatrix(["context", "add", "a", "--server", "127.0.0.1:1", "--token", "t0k"], env())).code,
    ).toBe(0);
    expect((await wasmatrix(["context", "add", "b", "--server", "127.0.0.1:2"], env())).code).toBe(0);
    const path = join(config, "contexts.json");
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(path, "utf8"))).toMatchObject({ current: "a" });
    expect((await wasmatrix(["context", "use", "b"], env())).code).toBe(0);
    const listed = JSON.parse((await wasmatrix(["context", "list", "--json"], env())).stdout);
    expect(listed).toEqual([
      { name: "a", current: false, server: "127.0.0.1:1", tls: false, token: true },
      { name: "b", current: true, server: "127.0.0.1:2", tls: false, token: false },
    ]);
    expect((await wasmatrix(["context", "remove", "a"], env())).code).toBe(0);
    expect((await wasmatrix(["context", "use", "a"], env())).code).toBe(2);
  });

  it("give a command its server unless --server or WASMATRIX_SERVER says otherwise", {
    timeout: 90_000,
  }, async () => {
    await wasmatrix(["context", "add", "dead", "--server", "127.0.0.1:9"], env());
    await wasmatrix(["context", "use", "dead"], env());
    const fromContext = await wasmatrix(["info", "--json"], env());
    expect(fromContext.code).toBe(69);
    expect(fromContext.stderr).toContain("127.0.0.1:9");
    const fromFlag = await wasmatrix(["info", "--server", "127.0.0.1:7"], env());
    expect(fromFlag.stderr).toContain("127.0.0.1:7");
    const fromEnv = await wasmatrix(["info"], { ...env(), WASMATRIX_SERVER: "127.0.0.1:8" });
    expect(fromEnv.stderr).toContain("127.0.0.1:8");
  });
});

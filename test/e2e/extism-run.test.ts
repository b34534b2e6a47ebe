import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * `wasmatrix run PLUGIN.wasm --invoke FN` on the Extism plugin of examples/extism, as a separate
 * process: http_request against a real HTTP server on 127.0.0.1, allowed and denied by
 * --allow-host or a manifest's allowed_hosts, and the manifest's config and memory limit.
 */
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = join(ROOT, "packages/cli/bin/wasmatrix.js");
const PLUGIN = join(ROOT, "examples/build/extism_plugin.wasm");
const CLI_TIMEOUT_MS = 30_000;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(...args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: ROOT, timeout: CLI_TIMEOUT_MS },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe.skipIf(!existsSync(PLUGIN))("wasmatrix run on an Extism plugin", () => {
  let server: Server;
  let url: string;
  let dir: string;
  const requests: { url: string; header: string | undefined }[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      requests.push({ url: req.url ?? "", header: req.headers["x-plugin"] as string | undefined });
      res.writeHead(200, { "content-type": "text/plain" });
      res.end(`served ${req.url}`);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    if (address === null || typeof address === "string") throw new Error("no address");
    // `localhost`, not the IP: permissions name hosts, and the name resolves to the loopback server.
    url = `http://localhost:${address.port}/data`;
    dir = await mkdtemp(join(tmpdir(), "wasmatrix-extism-"));
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  it("calls a function with --data and prints its output", async () => {
    const result = await cli("run", PLUGIN, "--invoke", "greet", "--data", "world");
    expect(result).toMatchObject({ code: 0, stdout: "Hello, world!" });
  });

  it("exits 1 with the plugin's error message when it sets one", async () => {
    const result = await cli("run", PLUGIN, "--invoke", "fail");
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("guest error: something went wrong");
  });

  it("lets http_request reach an --allow-host host and answers with its status and body", async () => {
    const before = requests.length;
    const result = await cli(
      "run",
      PLUGIN,
      "--invoke",
      "http_get",
      "--data",
      url,
      "--allow-host",
      "localhost",
      "--allow-private-http",
    );
    expect(result.stderr).toBe("");
    expect(result).toMatchObject({ code: 0, stdout: "200 served /data" });
    expect(requests.slice(before)).toEqual([{ url: "/data", header: "wasmatrix-test" }]);
  });

  it("refuses http_request to a host not allowed, and the server never hears of it", async () => {
    const before = requests.length;
    const denied = await cli(
      "run",
      PLUGIN,
      "--invoke",
      "http_get",
      "--data",
      url,
      "--allow-host",
      "example.com",
    );
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/http_request not allowed: PERMISSION_DENIED/);
    const none = await cli("run", PLUGIN, "--invoke", "http_get", "--data", url);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/http_request not allowed: CAPABILITY_NOT_ASSIGNED/);
    expect(requests.length).toBe(before);
  });

  it("runs what an Extism manifest names, with its config, allowed_hosts and memory limit", async () => {
    const manifest = join(dir, "manifest.json");
    await writeFile(
      manifest,
      JSON.stringify({
        wasm: [{ path: PLUGIN }],
        config: { greeting: "from the manifest" },
        allowed_hosts: ["localhost"],
        memory: { max_pages: 16 },
        timeout_ms: 5000,
      }),
    );
    const config = await cli(
      "run",
      "--extism-manifest",
      manifest,
      "--invoke",
      "config",
      "--data",
      "greeting",
    );
    expect(config).toMatchObject({ code: 0, stdout: "from the manifest" });
    const http = await cli(
      "run",
      "--extism-manifest",
      manifest,
      "--invoke",
      "http_get",
      "--data",
      url,
      "--allow-private-http",
    );
    expect(http).toMatchObject({ code: 0, stdout: "200 served /data" });
    const grow = await cli("run", "--extism-manifest", manifest, "--invoke", "grow", "--json");
    const report = JSON.parse(grow.stdout) as { reason: string; metering: { peakMemoryBytes: number } };
    expect(report.reason).toBe("memory_limit");
    expect(report.metering.peakMemoryBytes).toBeLessThanOrEqual(16 * 65_536);
  });

  it("refuses a manifest whose module hash does not match", async () => {
    const manifest = join(dir, "bad-hash.json");
    await writeFile(manifest, JSON.stringify({ wasm: [{ path: PLUGIN, hash: "00".repeat(32) }] }));
    const result = await cli("run", "--extism-manifest", manifest, "--invoke", "greet");
    expect(result.code).toBe(125);
    expect(result.stderr).toContain("hash mismatch");
  });
});

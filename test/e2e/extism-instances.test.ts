import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../support/ports.js";

/**
 * Extism plugins as supervised instances: `wasmatrix up` as a real child process, the plugin
 * started from an Extism manifest with `start --extism-manifest`, and every call through
 * `wasmatrix invoke` over gRPC — config, vars kept across calls, http_request under the
 * manifest's allowed_hosts against a real HTTP server on 127.0.0.1, and a crash that leaves a
 * neighbour plugin answering.
 */
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = join(ROOT, "packages/cli/bin/wasmatrix.js");
const PLUGIN = join(ROOT, "examples/build/extism_plugin.wasm");
const CLI_TIMEOUT_MS = 30_000;
const UP_READY_TIMEOUT_MS = 30_000;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

describe.skipIf(!existsSync(PLUGIN))("Extism plugins as instances of `wasmatrix up`", () => {
  let up: ChildProcess;
  let server: string;
  let upStderr = "";
  let http: Server;
  let url: string;
  let dir: string;
  let manifest: string;
  const requests: string[] = [];

  const cli = (...args: string[]) =>
    new Promise<Result>((resolve) => {
      execFile(
        process.execPath,
        [BIN, ...args],
        { cwd: ROOT, env: { ...process.env, WASMATRIX_SERVER: server }, timeout: CLI_TIMEOUT_MS },
        (error, stdout, stderr) => {
          const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1;
          resolve({ code, stdout, stderr });
        },
      );
    });

  beforeAll(async () => {
    http = createServer((req, res) => {
      requests.push(req.url ?? "");
      res.end(`served ${req.url}`);
    });
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    const address = http.address();
    if (address === null || typeof address === "string") throw new Error("no address");
    url = `http://localhost:${address.port}/data`;
    dir = await mkdtemp(join(tmpdir(), "wasmatrix-extism-instances-"));
    manifest = join(dir, "manifest.json");
    await writeFile(
      manifest,
      JSON.stringify({
        wasm: [{ path: PLUGIN }],
        config: { greeting: "hello from the manifest" },
        allowed_hosts: ["localhost"],
        memory: { max_pages: 32 },
      }),
    );

    server = `127.0.0.1:${await freePort()}`;
    up = spawn(
      process.execPath,
      [
        BIN,
        "up",
        "--listen",
        server,
        "--http",
        "off",
        "--metrics",
        "off",
        "--log-level",
        "warn",
        "--allow-private-http",
      ],
      { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    up.stderr?.on("data", (chunk: Buffer) => {
      upStderr += chunk.toString();
    });
    const deadline = Date.now() + UP_READY_TIMEOUT_MS;
    for (;;) {
      const info = await cli("info", "--json");
      if (info.code === 0) break;
      if (up.exitCode !== null || Date.now() > deadline) {
        throw new Error(`wasmatrix up did not serve on ${server} (exit ${up.exitCode}):\n${upStderr}`);
      }
      await new Promise((r) => setTimeout(r, 300));
    }
  }, UP_READY_TIMEOUT_MS + 10_000);

  afterAll(async () => {
    await new Promise((resolve) => http.close(resolve));
    await rm(dir, { recursive: true, force: true });
    if (up === undefined || up.exitCode !== null) return;
    const exited = new Promise<number | null>((resolve) => up.once("exit", (code) => resolve(code)));
    up.kill("SIGTERM");
    expect(await exited, upStderr).toBe(0);
  });

  it("starts a plugin from a manifest and answers calls with its config, vars and allowed hosts", async () => {
    const start = await cli("start", "--extism-manifest", manifest, "--id", "plugin", "--json");
    expect(start.stderr).toBe("");
    expect(JSON.parse(start.stdout)).toMatchObject({ instanceId: "plugin", kind: "reactor" });

    expect((await cli("invoke", "plugin", "greet", "--data", "cluster")).stdout).toBe("Hello, cluster!");
    expect((await cli("invoke", "plugin", "config", "--data", "greeting")).stdout).toBe(
      "hello from the manifest",
    );
    expect((await cli("invoke", "plugin", "count")).stdout).toBe("1");
    expect((await cli("invoke", "plugin", "count")).stdout).toBe("2");

    const fetched = await cli("invoke", "plugin", "http_get", "--data", url);
    expect(fetched.stderr).toBe("");
    expect(fetched.stdout).toBe("200 served /data");
    expect(requests).toEqual(["/data"]);
  });

  it("refuses http_request to a host outside allowed_hosts, and the plugin keeps answering", async () => {
    const denied = await cli("invoke", "plugin", "http_get", "--data", "http://example.com/");
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/http_request not allowed: PERMISSION_DENIED/);
    expect((await cli("invoke", "plugin", "count")).stdout).toBe("3");
  });

  it("takes --config on start, per instance, and a crash leaves the other plugin answering", async () => {
    const start = await cli("start", PLUGIN, "--id", "other", "--config", "greeting=other", "--json");
    expect(start.code).toBe(0);
    expect((await cli("invoke", "other", "config", "--data", "greeting")).stdout).toBe("other");
    expect((await cli("invoke", "other", "count")).stdout).toBe("1");
    const crash = await cli("invoke", "other", "crash");
    expect(crash.code).not.toBe(0);
    expect((await cli("invoke", "plugin", "greet", "--data", "still")).stdout).toBe("Hello, still!");
  });
});

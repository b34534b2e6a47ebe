import { type ChildProcess, execFile, spawn } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../support/ports.js";
import { killWithTests } from "../support/processes.js";
import { call, HTTP_ECHO, until } from "./support.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = join(ROOT, "packages/cli/bin/wasmatrix.js");

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(server: string, ...args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: ROOT, env: { ...process.env, WASMATRIX_SERVER: server }, timeout: 30_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** `wasmatrix up --http`, `start --replicas`, `route add/list/remove` as a person types them. */
describe("the gateway through the wasmatrix command", () => {
  let up: ChildProcess;
  let server: string;
  let base: string;
  let stderr = "";

  beforeAll(async () => {
    server = `127.0.0.1:${await freePort()}`;
    const http = `127.0.0.1:${await freePort()}`;
    base = `http://${http}`;
    up = spawn(
      process.execPath,
      [BIN, "up", "--listen", server, "--http", http, "--metrics", "off", "--log-level", "info"],
      {
        cwd: ROOT,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    killWithTests(up);
    up.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    let banner = "";
    up.stdout?.on("data", (chunk: Buffer) => {
      banner += chunk.toString();
    });
    await until(
      "the banner naming the HTTP address",
      async () => (banner.includes(http) ? true : undefined),
      60_000,
    );
  });
  afterAll(() => {
    up?.kill("SIGKILL");
  });

  it("starts replicas, routes to them by label, lists and removes the route", async () => {
    const started = await cli(server, "start", HTTP_ECHO, "--id", "web", "--replicas", "2", "--json");
    expect(started.code, started.stderr).toBe(0);
    const instances = JSON.parse(started.stdout) as { instanceId: string; labels: Record<string, string> }[];
    expect(instances.map((i) => [i.instanceId, i.labels["app"]])).toEqual([
      ["web-1", "web"],
      ["web-2", "web"],
    ]);

    const added = await cli(
      server,
      "route",
      "add",
      "web",
      "--path",
      "/",
      "--method",
      "get,post",
      "--target-label",
      "app=web",
    );
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout).toMatch(/NAME\s+HOST\s+PATH\s+METHODS\s+TARGET\s+OPERATION/);
    expect(added.stdout).toMatch(/web\s+\*\s+\/\s+GET,POST\s+label app=web\s+http/);
    const listed = await cli(server, "route", "list", "--json");
    expect(JSON.parse(listed.stdout)).toEqual([
      expect.objectContaining({
        name: "web",
        pathPrefix: "/",
        methods: ["GET", "POST"],
        target: { label: { app: "web" } },
      }),
    ]);

    const answer = await until("the gateway to serve the route", async () => {
      const a = await call(base, "/hello", { headers: { "x-request-id": "cli-test-1" } });
      return a.status === 200 ? a : undefined;
    });
    expect(answer.body.toString()).toBe("GET /hello\n");
    expect(["web-1", "web-2"]).toContain(answer.headers["x-wasmatrix-instance"]);
    // One access-log line per request, with the request id.
    await until("the access-log line", async () =>
      stderr
        .split("\n")
        .some(
          (l) =>
            l.includes('"msg":"http"') &&
            l.includes('"requestId":"cli-test-1"') &&
            l.includes('"status":200'),
        )
        ? true
        : undefined,
    );

    const removed = await cli(server, "route", "remove", "web");
    expect(removed.code, removed.stderr).toBe(0);
    await until("the route to be gone", async () =>
      (await call(base, "/hello")).status === 404 ? true : undefined,
    );
    const again = await cli(server, "route", "remove", "web");
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("ROUTE_NOT_FOUND");
  });

  it("refuses a route without exactly one target, saying what to add", async () => {
    const none = await cli(server, "route", "add", "x", "--path", "/x");
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("exactly one of --target and --target-label");
  });
});

import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../support/ports.js";

/**
 * Triggers end to end: `wasmatrix up` as a real child process, `wasmatrix trigger …` as separate
 * processes. A seconds-resolution cron trigger fires on the clock; a queue trigger receives what a
 * guest publishes on the in-process bus (no NATS).
 */

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = join(ROOT, "packages/cli/bin/wasmatrix.js");
const ECHO = join(ROOT, "examples/build/echo_reactor.wasm");
const HAVE_ECHO = existsSync(ECHO);
if (!HAVE_ECHO) {
  console.warn(
    `skipping the triggers end-to-end test: ${ECHO} is missing; build it with: npm run build:examples`,
  );
}

/** Each CLI process: node + tsx start-up is most of it. */
const CLI_TIMEOUT_MS = 15_000;
const UP_READY_TIMEOUT_MS = 20_000;

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
      { cwd: ROOT, env: { ...process.env, WASMATRIX_SERVER: server }, timeout: CLI_TIMEOUT_MS },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

function json<T = unknown>(result: Result): T {
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as T;
}

describe.skipIf(!HAVE_ECHO)("triggers against `wasmatrix up`", () => {
  let up: ChildProcess;
  let server: string;
  let upStderr = "";
  const run = (...args: string[]) => cli(server, ...args);

  beforeAll(async () => {
    server = `127.0.0.1:${await freePort()}`;
    up = spawn(
      process.execPath,
      [BIN, "up", "--listen", server, "--http", "off", "--metrics", "off", "--log-level", "warn"],
      {
        cwd: ROOT,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    up.stderr?.on("data", (chunk: Buffer) => {
      upStderr += chunk.toString();
    });
    // The banner comes once the server listens; polling before it would only compete with the
    // start-up for the CPU.
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no banner from wasmatrix up:\n${upStderr}`)),
        UP_READY_TIMEOUT_MS,
      );
      let banner = "";
      up.stdout?.on("data", (chunk: Buffer) => {
        banner += chunk.toString();
        if (banner.includes(server)) {
          clearTimeout(timer);
          resolve();
        }
      });
      up.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`wasmatrix up exited with ${code}:\n${upStderr}`));
      });
    });
    const deadline = Date.now() + UP_READY_TIMEOUT_MS;
    for (;;) {
      const info = await run("info", "--json");
      if (info.code === 0) {
        expect(JSON.parse(info.stdout)).toMatchObject({ mode: "embedded" });
        return;
      }
      if (up.exitCode !== null || Date.now() > deadline) {
        throw new Error(`wasmatrix up did not serve on ${server} (exit ${up.exitCode}):\n${upStderr}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  });

  afterAll(async () => {
    if (up === undefined || up.exitCode !== null) return;
    const exited = new Promise<number | null>((resolve) => up.once("exit", (code) => resolve(code)));
    up.kill("SIGTERM");
    expect(await exited, upStderr).toBe(0);
  });

  const firings = async () => {
    const events = await run("events", "--json");
    expect(events.code).toBe(0);
    return events.stdout
      .trim()
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => JSON.parse(line) as { kind: string; instanceId?: string; data: Record<string, unknown> })
      .filter((f) => f.kind === "trigger.fired");
  };

  async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await probe();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${upStderr}`);
      await new Promise((r) => setTimeout(r, 300));
    }
  }

  it("fires a */1 seconds cron trigger on the clock and records each firing as a fact", async () => {
    expect(json(await run("start", ECHO, "--id", "echo", "--json"))).toMatchObject({ status: "running" });
    const added = json<{ name: string; cron: string; nextFireAtMs: number }>(
      await run(
        "trigger",
        "add",
        "tick",
        "--cron",
        "*/1 * * * * *",
        "--target",
        "echo",
        "--operation",
        "count",
        "--json",
      ),
    );
    expect(added).toMatchObject({ name: "tick", cron: "*/1 * * * * *" });
    const fired = await until("two firings", async () => {
      const f = (await firings()).filter((x) => x.data["trigger"] === "tick");
      return f.length >= 2 ? f : undefined;
    });
    for (const fact of fired) {
      expect(fact.instanceId).toBe("echo");
      expect(fact.data["outcome"]).toBe("ok");
      expect((fact.data["scheduledAt"] as number) % 1_000).toBe(0);
    }
    const table = await run("trigger", "list");
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^NAME\s+SOURCE\s+TARGET\s+OPERATION\s+NEXT\s+FIRED\s+FAILED\n/);
    expect(table.stdout).toContain("cron */1 * * * * *");
    const removed = await run("trigger", "remove", "tick");
    expect(removed.code).toBe(0);
    expect(json<unknown[]>(await run("trigger", "list", "--json"))).toEqual([]);
    const missing = await run("trigger", "remove", "tick");
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("TRIGGER_NOT_FOUND");
  }, 120_000);

  it("delivers what a guest publishes on the in-process bus to a queue trigger", async () => {
    json(await run("start", ECHO, "--id", "publisher", "--cap", "messaging=msg:publish:orders.>", "--json"));
    json(
      await run(
        "trigger",
        "add",
        "orders",
        "--queue",
        "orders.>",
        "--target",
        "echo",
        "--operation",
        "echo",
        "--json",
      ),
    );
    const published = await run(
      "invoke",
      "publisher",
      "publish",
      "--data",
      JSON.stringify({ subject: "orders.eu.1", data: "one order" }),
    );
    expect(published.code, published.stderr).toBe(0);
    const listed = await until("one delivery", async () => {
      const [t] = json<{ counters?: { fired?: number } }[]>(await run("trigger", "list", "--json"));
      return t?.counters?.fired === 1 ? t : undefined;
    });
    expect(listed).toMatchObject({ name: "orders", queueSubject: "orders.>" });
  }, 120_000);
});

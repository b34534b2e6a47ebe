import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../support/ports.js";

/**
 * The `wasmatrix` command end to end: `up` as a real child process serving gRPC, and every other
 * command as a separate process talking to it, the way a person at a terminal uses them.
 */

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = join(ROOT, "packages/cli/bin/wasmatrix.js");
const ECHO = join(ROOT, "examples/build/echo_reactor.wasm");
const HAVE_ECHO = existsSync(ECHO);
if (!HAVE_ECHO) {
  console.warn(`skipping the CLI end-to-end test: ${ECHO} is missing; build it with: npm run build:examples`);
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

describe.skipIf(!HAVE_ECHO)("wasmatrix CLI against `wasmatrix up`", () => {
  let up: ChildProcess;
  let server: string;
  let upStderr = "";
  const run = (...args: string[]) => cli(server, ...args);

  beforeAll(async () => {
    server = `127.0.0.1:${await freePort()}`;
    up = spawn(process.execPath, [BIN, "up", "--listen", server, "--http", "off", "--log-level", "warn"], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
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

  it("starts a reactor with a keyvalue assignment and lists it as running", async () => {
    const start = await run(
      "start",
      ECHO,
      "--id",
      "echo",
      "--restart",
      "always",
      "--cap",
      "keyvalue=kv:read,kv:write,kv:list",
      "--json",
    );
    expect(json(start)).toMatchObject({ instanceId: "echo", status: "running", kind: "reactor" });
    const ps = json<{ instanceId: string; status: string; restartPolicy: string }[]>(
      await run("ps", "--json"),
    );
    expect(ps).toContainEqual(
      expect.objectContaining({ instanceId: "echo", status: "running", restartPolicy: "always" }),
    );
  });

  it("prints a response raw, reports a guest error on stderr with exit 1, and lists assignments", async () => {
    const [echo, fail, caps] = await Promise.all([
      run("invoke", "echo", "echo", "--data", "hello"),
      run("invoke", "echo", "fail"),
      run("caps", "ls", "echo", "--json"),
    ]);
    expect(echo).toEqual({ code: 0, stdout: "hello", stderr: "" });
    expect(fail.code).toBe(1);
    expect(fail.stdout).toBe("");
    expect(fail.stderr).toContain("failed on purpose");
    expect(json(caps)).toEqual({
      instanceId: "echo",
      assignments: [
        {
          capability: "keyvalue",
          provider: "local",
          binding: "default",
          permissions: ["kv:read", "kv:write", "kv:list"],
        },
      ],
    });
  });

  it("keeps keyvalue state between invocations", async () => {
    expect((await run("invoke", "echo", "kv_counter")).stdout).toBe("1");
    expect((await run("invoke", "echo", "kv_counter")).stdout).toBe("2");
  });

  it("revokes keyvalue: the next call fails with CAPABILITY_NOT_ASSIGNED", async () => {
    const revoke = json<{ assignments: unknown[] }>(
      await run("caps", "revoke", "echo", "keyvalue", "--json"),
    );
    expect(revoke.assignments).toEqual([]);
    const denied = await run("invoke", "echo", "kv_counter");
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain("CAPABILITY_NOT_ASSIGNED");
  });

  it("shows what happened in events, inspect and logs, the refused call having left the instance running", async () => {
    const [events, inspect, logs, table] = await Promise.all([
      run("events", "--json"),
      run("inspect", "echo", "--json"),
      run("logs", "echo"),
      run("inspect", "echo"),
    ]);
    expect(events.code).toBe(0);
    const facts = events.stdout
      .trim()
      .split("\n")
      .map(
        (line) =>
          JSON.parse(line) as { kind: string; instanceId: string | null; data: Record<string, unknown> },
      );
    expect(facts).toContainEqual(expect.objectContaining({ kind: "instance.started", instanceId: "echo" }));
    expect(facts).toContainEqual(
      expect.objectContaining({
        kind: "capability.revoked",
        instanceId: "echo",
        data: expect.objectContaining({ capability: "keyvalue" }),
      }),
    );
    const inspected = json<{ instance: Record<string, unknown>; recentFacts: { kind: string }[] }>(inspect);
    expect(inspected.instance).toMatchObject({
      instanceId: "echo",
      status: "running",
      restartPolicy: "always",
      assignments: [],
    });
    expect(inspected.recentFacts.map((f) => f.kind)).toContain("capability.revoked");
    expect(logs.code).toBe(0);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^STATUS +running$/m);
  });

  it("stops the instance, which ps then hides unless --all", async () => {
    const stop = await run("stop", "echo", "--json");
    expect(json(stop)).toMatchObject({ instanceId: "echo", status: "stopped" });
    const [ps, all] = await Promise.all([run("ps", "--json"), run("ps", "--all", "--json")]);
    expect(json<{ instanceId: string }[]>(ps).map((i) => i.instanceId)).not.toContain("echo");
    expect(json(all)).toContainEqual(expect.objectContaining({ instanceId: "echo", status: "stopped" }));
  });

  it("starts a stopped instance again with `start --id` alone, as it was recorded", async () => {
    // The hint a call on the stopped instance gives is the command that follows.
    const stopped = await run("invoke", "echo", "echo", "--data", "x");
    expect(stopped.code).toBe(1);
    expect(stopped.stderr).toContain("`wasmatrix start --id echo`");
    const again = json<{ instanceId: string; status: string; restartPolicy: string }>(
      await run("start", "--id", "echo", "--json"),
    );
    expect(again).toMatchObject({ instanceId: "echo", status: "running", restartPolicy: "always" });
    expect(await run("invoke", "echo", "echo", "--data", "again")).toEqual({
      code: 0,
      stdout: "again",
      stderr: "",
    });
    const running = await run("start", "--id", "echo");
    expect(running.code).toBe(1);
    expect(running.stderr).toContain("ALREADY_EXISTS");
    const changed = await run("start", "--id", "echo", "--cap", "logging");
    expect(changed.code).toBe(2);
    expect(changed.stderr).toContain("--cap would change it");
  });

  it("prints why each node was passed over when none carries a required label, with or without --json", async () => {
    const [human, machine] = await Promise.all([
      run("start", ECHO, "--require-label", "zone=c"),
      run("start", ECHO, "--require-label", "zone=c", "--json"),
    ]);
    for (const result of [human, machine]) {
      expect(result.code).toBe(1);
      expect(result.stdout).toBe("");
      expect(result.stderr).toContain("NODE_UNAVAILABLE");
      expect(result.stderr).toMatch(/^ {2}\S+: label zone=c missing$/m);
      expect(result.stderr).toContain("wasmatrix nodes");
    }
  });

  it("refuses a directory and an empty module in words, the empty one as `run` does", async () => {
    const dir = await mkdtemp(join(tmpdir(), "wasmatrix-cli-"));
    const empty = join(dir, "empty.wasm");
    await writeFile(empty, "");
    try {
      const [directory, start, runEmpty] = await Promise.all([
        run("start", dir),
        run("start", empty),
        run("run", empty),
      ]);
      expect(directory.code).toBe(2);
      expect(directory.stderr).toContain(`${dir} is a directory`);
      expect(directory.stderr).not.toContain("EISDIR");
      const intake = "module is truncated: 0 bytes";
      expect(start.code).toBe(1);
      expect(start.stderr).toContain(intake);
      expect(runEmpty.stderr).toContain(intake);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("says so when an instance has logged nothing yet, and heads the events with their columns", async () => {
    await run("start", ECHO, "--id", "quiet");
    const [logs, events] = await Promise.all([run("logs", "quiet"), run("events")]);
    expect(logs.code).toBe(0);
    expect(logs.stdout).toBe("");
    expect(logs.stderr).toContain("no log lines from 'quiet' yet");
    expect(logs.stderr).toContain("wasmatrix logs quiet --follow");
    const [header, ...lines] = events.stdout.trimEnd().split("\n");
    expect(header).toMatch(/^SEQ +TIME +KIND +INSTANCE +NODE +DATA$/);
    const node = header!.indexOf("NODE");
    const started = lines.find((line) => line.includes("instance.started") && line.includes("quiet"));
    // The node id sits under NODE: nothing before it overflowed its column.
    expect(started?.slice(node)).toMatch(/^node-/);
  });

  it("reports a port already in use in its own words, without grpc-js's console line", async () => {
    const clash = await cli(server, "up", "--listen", server, "--http", "off", "--log-level", "warn");
    expect(clash.code).toBe(1);
    expect(clash.stderr).toContain(`cannot listen on ${server}: the address is in use`);
    expect(clash.stderr).not.toContain("No address added");
  });

  it("exits 1 naming INSTANCE_NOT_FOUND for an unknown id, and 69 when no server answers", async () => {
    const nowhere = `127.0.0.1:${await freePort()}`;
    const [unknown, unreachable, usage] = await Promise.all([
      run("invoke", "no-such-instance", "echo"),
      cli(nowhere, "ps"),
      run("start", ECHO, "--cap", "kv:read"),
    ]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("INSTANCE_NOT_FOUND");
    expect(unreachable.code).toBe(69);
    expect(unreachable.stderr).toContain("wasmatrix up");
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("--cap");
  });
});

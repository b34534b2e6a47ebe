import { execFile } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cluster, type Daemon, freePort, spawnDaemon, untilServing, waitFor } from "../cluster/harness.js";

/**
 * `wasmatrix logs --run/--since/--grep` against `wasmatrix up --metrics off`: a command that
 * prints one line and traps, restarted three times, leaves one line in each of runs 1 to 4.
 */

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = join(ROOT, "packages/cli/bin/wasmatrix.js");
const TRAP = join(ROOT, "examples/build/trap.wasm");
const LINE = "trap: about to execute unreachable";
const CLI_TIMEOUT_MS = 30_000;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

interface JsonLine {
  instanceId: string;
  run: number;
  stream: string;
  text: string;
  atMs: number;
}

describe("execution logs per run", () => {
  const cluster = new Cluster();
  let up: Daemon;
  let server: string;

  const cli = (...args: string[]) =>
    new Promise<Result>((resolve) => {
      execFile(
        process.execPath,
        [BIN, ...args],
        { cwd: ROOT, env: { ...process.env, WASMATRIX_SERVER: server }, timeout: CLI_TIMEOUT_MS },
        (error, stdout, stderr) =>
          resolve({
            code: error === null ? 0 : typeof error.code === "number" ? error.code : -1,
            stdout,
            stderr,
          }),
      );
    });
  const jsonLines = (result: Result): JsonLine[] => {
    expect(result.code, result.stderr).toBe(0);
    return result.stdout
      .trim()
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => JSON.parse(l) as JsonLine);
  };

  beforeAll(async () => {
    server = `127.0.0.1:${await freePort()}`;
    up = spawnDaemon("up", server, [
      "up",
      "--listen",
      server,
      "--http",
      "off",
      "--metrics",
      "off",
      "--log-level",
      "warn",
    ]);
    const client = cluster.client(server);
    await untilServing(up, () => client.serverInfo());
    const started = await cli(
      "start",
      TRAP,
      "--id",
      "phoenix",
      "--restart",
      "backoff:initial=100ms,max=100ms,jitter=0,max-restarts=3",
    );
    expect(started.code, started.stderr).toBe(0);
    await waitFor(
      "four runs of phoenix in its logs",
      async () => {
        const runs = jsonLines(await cli("logs", "phoenix", "--json")).map((l) => l.run);
        return runs.includes(4) ? runs : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
  }, 120_000);

  afterAll(async () => {
    await up?.kill("SIGKILL");
    await cluster.close();
  });

  it("tags every line with its run, 1 for the first and one more per restart", async () => {
    const lines = jsonLines(await cli("logs", "phoenix", "--json"));
    expect(lines.map((l) => [l.run, l.text])).toEqual([1, 2, 3, 4].map((run) => [run, LINE]));
  }, 60_000);

  it("gives one run's lines with --run", async () => {
    const lines = jsonLines(await cli("logs", "phoenix", "--run", "3", "--json"));
    expect(lines.map((l) => l.run)).toEqual([3]);
  }, 60_000);

  it("heads each run after the first in the text output", async () => {
    const result = await cli("logs", "phoenix");
    expect(result.code).toBe(0);
    expect(result.stdout.split("\n").filter((l) => l !== "")).toEqual([
      LINE,
      "--- run 2 ---",
      LINE,
      "--- run 3 ---",
      LINE,
      "--- run 4 ---",
      LINE,
    ]);
  }, 60_000);

  it("counts --tail after --since, and says so when --grep matches nothing", async () => {
    const recent = jsonLines(await cli("logs", "phoenix", "--since", "1h", "--tail", "2", "--json"));
    expect(recent.map((l) => l.run)).toEqual([3, 4]);
    const future = jsonLines(await cli("logs", "phoenix", "--since", "2999-01-01T00:00:00Z", "--json"));
    expect(future).toEqual([]);
    const none = await cli("logs", "phoenix", "--grep", "no such text");
    expect(none.code).toBe(0);
    expect(none.stdout).toBe("");
    expect(none.stderr).toContain("match --run, --since or --grep");
    const some = jsonLines(await cli("logs", "phoenix", "--grep", "unreachable", "--run", "2", "--json"));
    expect(some.map((l) => l.run)).toEqual([2]);
  }, 60_000);
});

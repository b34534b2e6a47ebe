import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { freePort } from "../support/ports.js";
import { killWithTests } from "../support/processes.js";

/**
 * What `wasmatrix control-plane` and `wasmatrix node-agent` print: a banner a person can read
 * when asked (`--log-format text`, the default on a terminal), and only JSON log lines for a
 * collector (`--log-format json`, the default when stdout is a pipe, as here).
 */

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = join(ROOT, "packages/cli/bin/wasmatrix.js");
const READY_TIMEOUT_MS = 30_000;

interface Output {
  stdout: string;
  stderr: string;
}

/**
 * Runs a daemon until `ready` holds of its output (its log says it serves; with a banner, the
 * banner is out too: it comes after), then stops it with SIGTERM; resolves with what it printed.
 */
async function runDaemon(args: string[], ready: (output: Output) => boolean): Promise<Output> {
  const child: ChildProcess = spawn(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  killWithTests(child);
  const output: Output = { stdout: "", stderr: "" };
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  // A daemon that never gets ready is killed here: vitest's workers do not run exit hooks.
  const started = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${args[0]} never got ready:\n${output.stdout}\n${output.stderr}`)),
      READY_TIMEOUT_MS,
    );
    const check = () => {
      if (ready(output)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on("data", (chunk: Buffer) => {
      output.stdout += chunk.toString();
      check();
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      output.stderr += chunk.toString();
      check();
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${args[0]} exited with ${code} before it was ready:\n${output.stderr}`));
    });
  });
  await started.catch((error: unknown) => {
    child.kill("SIGKILL");
    throw error;
  });
  // Only the output is under test here: a SIGTERM that lands in the microseconds between the
  // ready line and the daemon's signal handlers ends it by the signal instead of with 0.
  child.kill("SIGTERM");
  await exited;
  return output;
}

function expectJsonLines(stderr: string): void {
  const lines = stderr.trim().split("\n");
  expect(lines.length).toBeGreaterThan(0);
  for (const line of lines) expect(() => JSON.parse(line), line).not.toThrow();
}

describe("daemon output", () => {
  it("control-plane prints only JSON log lines to a pipe, and a banner with its address when asked", async () => {
    const [quiet, told] = await Promise.all(
      [[], ["--log-format", "text"]].map(async (extra) => {
        const listen = `127.0.0.1:${await freePort()}`;
        const ready = (o: Output) =>
          o.stderr.includes("listening") && (extra.length === 0 || o.stdout.includes("Ctrl-C stops it"));
        return { listen, ...(await runDaemon(["control-plane", "--listen", listen, ...extra], ready)) };
      }),
    );
    expect(quiet!.stdout).toBe("");
    expectJsonLines(quiet!.stderr);
    expect(told!.stdout).toContain("wasmatrix control plane is up");
    expect(told!.stdout).toMatch(new RegExp(`^ {2}server +${told!.listen.replaceAll(".", "\\.")}$`, "m"));
    expect(told!.stdout).toContain(`wasmatrix node-agent --control-plane ${told!.listen}`);
    expectJsonLines(told!.stderr);
  });

  it("node-agent prints a banner with its node id and labels when asked, and none with --log-format json", async () => {
    const [told, quiet] = await Promise.all(
      ["text", "json"].map(async (format) => {
        const listen = `127.0.0.1:${await freePort()}`;
        return runDaemon(
          [
            "node-agent",
            "--listen",
            listen,
            "--node-id",
            `n-${format}`,
            "--labels",
            "zone=a",
            "--log-format",
            format,
          ],
          (o) =>
            o.stderr.includes("node agent listening") &&
            (format === "json" || o.stdout.includes("Ctrl-C stops it")),
        );
      }),
    );
    expect(told!.stdout).toContain("wasmatrix node agent is up");
    expect(told!.stdout).toMatch(/^ {2}node +n-text$/m);
    expect(told!.stdout).toMatch(/^ {2}labels +zone=a$/m);
    expect(quiet!.stdout).toBe("");
    expectJsonLines(quiet!.stderr);
  });
});

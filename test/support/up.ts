import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "./ports.js";
import { killWithTests } from "./processes.js";

/** `wasmatrix up` as a real child process, and the CLI as separate processes talking to it. */

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const BIN = join(ROOT, "packages/cli/bin/wasmatrix.js");
const CLI_TIMEOUT_MS = 30_000;
const UP_READY_TIMEOUT_MS = 30_000;

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function cli(server: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: ROOT, env: { ...process.env, WASMATRIX_SERVER: server, ...env }, timeout: CLI_TIMEOUT_MS },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

export interface Up {
  readonly server: string;
  readonly process: ChildProcess;
  /** Everything `up` wrote to stderr so far. */
  stderr(): string;
  run(...args: string[]): Promise<CliResult>;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

/**
 * Starts `wasmatrix up --listen <free port> …extraArgs` and resolves once its API answers. Unless
 * `extraArgs` says otherwise, the HTTP gateway and metrics are off (their default ports are fixed,
 * and tests run in parallel) and the state dir (the audit log) is a fresh temp dir.
 */
export async function startUp(extraArgs: string[] = []): Promise<Up> {
  const server = `127.0.0.1:${await freePort()}`;
  const defaults = [
    ...(extraArgs.includes("--http") ? [] : ["--http", "off"]),
    ...(extraArgs.includes("--metrics") ? [] : ["--metrics", "off"]),
    ...(extraArgs.includes("--state-dir")
      ? []
      : ["--state-dir", mkdtempSync(join(tmpdir(), "wasmatrix-up-"))]),
  ];
  const child = spawn(
    process.execPath,
    [BIN, "up", "--listen", server, "--log-level", "warn", ...defaults, ...extraArgs],
    { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] },
  );
  killWithTests(child);
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const up: Up = {
    server,
    process: child,
    stderr: () => stderr,
    run: (...args) => cli(server, args),
    stop: async () => {
      if (child.exitCode !== null) return child.exitCode;
      const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      return exited;
    },
  };
  const deadline = Date.now() + UP_READY_TIMEOUT_MS;
  for (;;) {
    // 0: it answers; 1: it answers with a refusal (a server with --auth wants a token): either way it serves.
    const { code } = await up.run("info", "--json");
    if (code === 0 || code === 1) return up;
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`wasmatrix up did not serve on ${server} (exit ${child.exitCode}):\n${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findBinary, killWithTests } from "./processes.js";

/**
 * A real `nats-server` for tests: a fresh store directory and a free loopback port per
 * `startNats()`, both kept across `restart()` so that JetStream data survives it.
 */
export interface NatsServer {
  /** `nats://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** The JetStream store directory (`-sd`); removed by `stop()`. */
  readonly dataDir: string;
  /** Stops the server (SIGTERM, SIGKILL after a grace period) and removes its store directory. */
  stop(): Promise<void>;
  /**
   * Stops the server (SIGTERM) and starts it again on the same port with the same store
   * directory, after leaving it down for `downMs` (default 0).
   */
  restart(downMs?: number): Promise<void>;
  /**
   * Kills the server with SIGKILL (a crash: no flush, no goodbye to clients) and leaves it down
   * until `start()`; the store directory stays.
   */
  kill(): Promise<void>;
  /** Starts a killed server again on the same port with the same store directory. */
  start(): Promise<void>;
  /**
   * Freezes the server (SIGSTOP): connections stay open and nothing is answered, as on a
   * network partition, until `thaw()`, when it handles what it was sent meanwhile. Resolves once
   * every thread of it has stopped: a signal reaches a busy thread a moment late.
   */
  freeze(): Promise<void>;
  thaw(): void;
}

export interface StartNatsOptions {
  /** Enable JetStream (`-js`). Default true. */
  jetstream?: boolean;
  /** How long to wait for the server to accept connections. Default 10 s. */
  startTimeoutMs?: number;
}

const DEFAULT_START_TIMEOUT_MS = 10_000;
const STOP_GRACE_MS = 5_000;
const LOG_LINES_KEPT = 40;
const BINARY = "nats-server";
const INSTALL_HINT =
  "nats-server is not installed; run scripts/install-toolchain.sh (it installs the Debian package nats-server)";

const STANDARD_PATHS = [`/usr/sbin/${BINARY}`, `/usr/bin/${BINARY}`];

/**
 * Where the `nats-server` binary is: `$NATS_SERVER_BIN`, Debian's /usr/sbin, or the PATH.
 * Throws, saying how to install it, when there is none: tests that need NATS fail, never skip.
 */
export function natsServerBinary(
  env: NodeJS.ProcessEnv = process.env,
  standardPaths: readonly string[] = STANDARD_PATHS,
): string {
  return findBinary(BINARY, [env["NATS_SERVER_BIN"], ...standardPaths], INSTALL_HINT, env["PATH"] ?? "");
}

export async function startNats(options: StartNatsOptions = {}): Promise<NatsServer> {
  const binary = natsServerBinary();
  const jetstream = options.jetstream ?? true;
  const startTimeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  const dataDir = await mkdtemp(join(tmpdir(), "wasmatrix-nats-"));
  // The first start asks the server for a random port (`-p -1`) and reads it from the log, so no
  // other process can take it between choosing and binding; restarts reuse that port.
  let port = -1;
  let child: ChildProcess | null = null;

  const launch = async (): Promise<void> => {
    const args = ["-a", "127.0.0.1", "-p", String(port), "-sd", dataDir, ...(jetstream ? ["-js"] : [])];
    const proc = spawn(binary, args, { stdio: ["ignore", "ignore", "pipe"] });
    killWithTests(proc);
    child = proc;
    const log: string[] = [];
    const listening = new Promise<number>((resolve, reject) => {
      let buffered = "";
      proc.stderr?.setEncoding("utf8");
      proc.stderr?.on("data", (chunk: string) => {
        buffered += chunk;
        let newline = buffered.indexOf("\n");
        while (newline >= 0) {
          const line = buffered.slice(0, newline);
          buffered = buffered.slice(newline + 1);
          log.push(line);
          if (log.length > LOG_LINES_KEPT) log.shift();
          const match = /Listening for client connections on [^\s]*:(\d+)/.exec(line);
          if (match !== null) resolve(Number(match[1]));
          newline = buffered.indexOf("\n");
        }
      });
      proc.once("error", reject);
      proc.once("exit", (code, signal) =>
        reject(new Error(`nats-server exited (${signal ?? code}) before it listened:\n${log.join("\n")}`)),
      );
    });
    let timer: NodeJS.Timeout | undefined;
    try {
      const bound = await Promise.race([
        listening,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(new Error(`nats-server did not listen within ${startTimeoutMs} ms:\n${log.join("\n")}`)),
            startTimeoutMs,
          );
        }),
      ]);
      port = bound;
      await acceptsConnections(port, startTimeoutMs);
    } catch (error) {
      await terminate(proc);
      throw error;
    } finally {
      clearTimeout(timer);
    }
  };

  const halt = async (signal: "SIGTERM" | "SIGKILL" = "SIGTERM"): Promise<void> => {
    const proc = child;
    child = null;
    // A frozen process would hold SIGTERM until it runs again.
    proc?.kill("SIGCONT");
    if (proc !== null) await terminate(proc, signal);
  };

  try {
    await launch();
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }

  return {
    get url() {
      return `nats://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    dataDir,
    async stop() {
      await halt();
      await rm(dataDir, { recursive: true, force: true });
    },
    async restart(downMs = 0) {
      await halt();
      if (downMs > 0) await new Promise((resolve) => setTimeout(resolve, downMs));
      await launch();
    },
    async kill() {
      await halt("SIGKILL");
    },
    async start() {
      if (child === null) await launch();
    },
    async freeze() {
      const proc = child;
      if (proc === null || proc.pid === undefined) return;
      proc.kill("SIGSTOP");
      await until(() => allStopped(proc.pid!), startTimeoutMs, "nats-server to stop on SIGSTOP");
    },
    thaw() {
      child?.kill("SIGCONT");
    },
  };
}

async function terminate(proc: ChildProcess, signal: "SIGTERM" | "SIGKILL" = "SIGTERM"): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  proc.kill(signal);
  let timer: NodeJS.Timeout | undefined;
  const forced = await Promise.race([
    exited.then(() => false),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), STOP_GRACE_MS);
    }),
  ]);
  clearTimeout(timer);
  if (forced) {
    proc.kill("SIGKILL");
    await exited;
  }
}

/** Whether every thread of a process is stopped (state `T` in Linux's /proc/<pid>/task/<tid>/stat). */
function allStopped(pid: number): boolean {
  const tasks = readdirSync(`/proc/${pid}/task`);
  return tasks.every((tid) => {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
    // The state follows the command name, which is in parentheses and may contain spaces.
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("T");
  });
}

async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Resolves once a TCP connection to the port succeeds; the server logs "listening" a moment early. */
async function acceptsConnections(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = tcpConnect({ host: "127.0.0.1", port });
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nats-server on port ${port} refuses connections`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

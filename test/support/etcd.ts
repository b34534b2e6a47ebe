import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports.js";
import { findBinary, killWithTests } from "./processes.js";

/**
 * A real single-member etcd for tests: free loopback client and peer ports and a fresh data
 * directory per `startEtcd()`, all three kept across `restart()` so that keys and leases survive
 * it the way they survive a restart in production.
 */
export interface EtcdServer {
  /** `http://127.0.0.1:<client port>`, the form `--etcd-endpoints` and etcd3 take. */
  readonly endpoints: string[];
  readonly clientPort: number;
  readonly dataDir: string;
  /** Stops the server (SIGTERM, SIGKILL after a grace period) and removes its data directory. */
  stop(): Promise<void>;
  /** Stops the server and starts it again on the same ports with the same data directory. */
  restart(options?: { downMs?: number }): Promise<void>;
  /** Stops the server but keeps the data directory, for `start()` later. */
  halt(): Promise<void>;
  /** Starts a halted server again. */
  start(): Promise<void>;
  /** The last lines etcd logged, for failure messages. */
  log(): string;
}

export interface StartEtcdOptions {
  /** How long to wait for /health to say true. @default 15 s */
  startTimeoutMs?: number;
}

const DEFAULT_START_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 5_000;
const LOG_LINES_KEPT = 60;
const BINARY = "etcd";
const INSTALL_HINT =
  "etcd is not installed; run scripts/install-toolchain.sh (it installs the Debian packages etcd-server and etcd-client)";

/** Where the `etcd` binary is: `$ETCD_BIN`, Debian's /usr/bin, or the PATH. */
export function etcdBinary(): string {
  return findBinary(BINARY, [process.env["ETCD_BIN"], `/usr/bin/${BINARY}`], INSTALL_HINT);
}

export async function startEtcd(options: StartEtcdOptions = {}): Promise<EtcdServer> {
  const binary = etcdBinary();
  const startTimeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  const dataDir = await mkdtemp(join(tmpdir(), "wasmatrix-etcd-"));
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const clientUrl = `http://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const log: string[] = [];
  let child: ChildProcess | null = null;

  const launch = async (): Promise<void> => {
    const args = [
      "--name",
      "default",
      "--data-dir",
      dataDir,
      "--listen-client-urls",
      clientUrl,
      "--advertise-client-urls",
      clientUrl,
      "--listen-peer-urls",
      peerUrl,
      "--initial-advertise-peer-urls",
      peerUrl,
      "--initial-cluster",
      `default=${peerUrl}`,
      "--logger",
      "zap",
      "--log-level",
      "warn",
    ];
    const env = { ...process.env };
    for (const key of Object.keys(env)) if (key.startsWith("ETCD_")) delete env[key];
    // etcd refuses to start on architectures it does not officially support unless told to.
    const goArch = { x64: "amd64", arm64: "arm64" }[process.arch as "x64" | "arm64"];
    if (goArch === undefined) env["ETCD_UNSUPPORTED_ARCH"] = process.arch;
    const proc = spawn(binary, args, { stdio: ["ignore", "ignore", "pipe"], env });
    killWithTests(proc);
    child = proc;
    proc.stderr?.setEncoding("utf8");
    proc.stderr?.on("data", (chunk: string) => {
      for (const line of chunk.split("\n")) {
        if (line === "") continue;
        log.push(line);
        if (log.length > LOG_LINES_KEPT) log.shift();
      }
    });
    const exited = new Promise<never>((_, reject) =>
      proc.once("exit", (code, signal) => {
        reject(new Error(`etcd exited (${signal ?? code}) before it was healthy:\n${log.join("\n")}`));
      }),
    );
    exited.catch(() => undefined);
    try {
      await Promise.race([healthy(clientUrl, startTimeoutMs, log), exited]);
    } catch (error) {
      await terminate(proc);
      throw error;
    }
  };

  const halt = async (): Promise<void> => {
    const proc = child;
    child = null;
    if (proc !== null) await terminate(proc);
  };

  try {
    await launch();
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }

  return {
    endpoints: [clientUrl],
    clientPort,
    dataDir,
    async stop() {
      await halt();
      await rm(dataDir, { recursive: true, force: true });
    },
    async restart(restartOptions = {}) {
      await halt();
      if (restartOptions.downMs !== undefined) await new Promise((r) => setTimeout(r, restartOptions.downMs));
      await launch();
    },
    halt,
    start: launch,
    log: () => log.join("\n"),
  };
}

/** Polls etcd's /health until it reports true: the member has a leader and serves requests. */
async function healthy(clientUrl: string, timeoutMs: number, log: string[]): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  for (;;) {
    try {
      const response = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(1_000) });
      const body = (await response.json()) as { health?: string };
      if (body.health === "true") return;
      last = JSON.stringify(body);
    } catch (error) {
      last = (error as Error).message;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `etcd at ${clientUrl} not healthy within ${timeoutMs} ms (${last}):\n${log.join("\n")}`,
      );
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function terminate(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  proc.kill("SIGTERM");
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

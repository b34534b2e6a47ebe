import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { connect, type WasmatrixClient } from "@wasmatrix/client";
import { WasmatrixError } from "@wasmatrix/core";
import type * as pb from "@wasmatrix/proto";
import { connectNode, connectProvider, loadTls, type TlsMaterial } from "@wasmatrix/proto";
import { freePort } from "../support/ports.js";
import { killWithTests } from "../support/processes.js";

export { freePort };

/**
 * Real `wasmatrix control-plane` and `wasmatrix node-agent` processes on free loopback ports, for
 * the cluster tests and the cluster benchmark. Every child is killed with the test process even
 * when a test fails half-way, so no daemon outlives a run.
 */

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = join(ROOT, "packages/cli/bin/wasmatrix.js");

/** Heartbeats in the cluster tests: short, so a loss is seen within a second. */
export const TEST_HEARTBEAT_MS = 300;
/** From spawn to serving: node start-up plus loading the bundled CLI, on a busy 2-core machine. */
const READY_TIMEOUT_MS = 30_000;
const POLL_INTERVAL_MS = 25;
const STDERR_KEPT_CHARS = 8_000;

/**
 * The CLI bundles its sources into node_modules/.cache on the first start after an edit. Daemons
 * spawned together would each bundle at once; one `--version` first does it for all of them.
 */
let bundled: Promise<void> | undefined;
function bundleOnce(): Promise<void> {
  bundled ??= new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, "--version"], {
      cwd: ROOT,
      stdio: "ignore",
      env: daemonEnv(),
    });
    child.once("error", reject);
    child.once("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`wasmatrix --version exited ${code}`)),
    );
  });
  return bundled;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface WaitOptions {
  /** @default 10_000 */
  timeoutMs?: number;
  /** @default POLL_INTERVAL_MS */
  intervalMs?: number;
}

/**
 * Polls `probe` until it returns something other than undefined (a thrown error counts as "not
 * yet") and returns that; fails with `what` and the last error when the time runs out.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  options: WaitOptions = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      const why = last === undefined ? "" : `; last error: ${(last as Error).message}`;
      throw new Error(`timed out waiting for ${what}${why}`);
    }
    await sleep(options.intervalMs ?? POLL_INTERVAL_MS);
  }
}

/** The WasmatrixError a call failed with; throws when it succeeded or failed with anything else. */
export async function failure(call: Promise<unknown> | (() => Promise<unknown>)): Promise<WasmatrixError> {
  const outcome = await (typeof call === "function" ? call() : call).then(
    () => ({ failed: false as const }),
    (error: unknown) => ({ failed: true as const, error }),
  );
  if (!outcome.failed) throw new Error("the call succeeded; it should have failed");
  if (!WasmatrixError.is(outcome.error))
    throw new Error(`expected a WasmatrixError, got ${String(outcome.error)}`);
  return outcome.error;
}

export interface Daemon {
  readonly name: string;
  /** host:port it serves on. */
  readonly address: string;
  readonly child: ChildProcess;
  /** Its stderr so far (JSON log lines), the last few thousand characters. */
  stderr(): string;
  /** Sends the signal and waits for the exit; resolves with the time the signal was sent. */
  kill(signal: NodeJS.Signals): Promise<{ sentAt: number; code: number | null; signal: string | null }>;
}

export interface ControlPlaneSpec {
  /** @default a free port */
  port?: number;
  /** @default TEST_HEARTBEAT_MS */
  heartbeatMs?: number;
  staticNodes?: string[];
}

export interface NodeAgentSpec {
  nodeId: string;
  /** Omitted: the node only serves its API and waits to be polled (static node lists). */
  controlPlane?: string;
  labels?: Record<string, string>;
  /** `--max-instances`; the node's default when omitted. */
  maxInstances?: number;
  /** @default a free port */
  port?: number;
}

/**
 * The daemons and clients of one test file; `close()` kills whatever is still alive. With `pki`
 * (a directory from `wasmatrix certs init` holding control-plane, client-harness and each
 * daemon's certificate) every daemon runs with mutual TLS under its own identity, and the
 * harness's probes and clients use client-harness's (the control plane's for node probes, the
 * only identity a node answers).
 */
export class Cluster {
  private readonly daemons: Daemon[] = [];
  private readonly clients: { close(): void }[] = [];

  constructor(private readonly pki?: string) {}

  /** `--tls-*` flags for the daemon whose certificate is `<base>.crt`; none without a pki. */
  tlsArgs(base: string): string[] {
    if (this.pki === undefined) return [];
    return [
      "--tls-ca",
      join(this.pki, "ca.crt"),
      "--tls-cert",
      join(this.pki, `${base}.crt`),
      "--tls-key",
      join(this.pki, `${base}.key`),
    ];
  }

  /** The TLS material of `<base>.crt` in the pki; undefined without one. */
  tls(base: string): TlsMaterial | undefined {
    if (this.pki === undefined) return undefined;
    return loadTls({
      ca: join(this.pki, "ca.crt"),
      cert: join(this.pki, `${base}.crt`),
      key: join(this.pki, `${base}.key`),
    });
  }

  async controlPlane(spec: ControlPlaneSpec = {}): Promise<Daemon> {
    const address = `127.0.0.1:${spec.port ?? (await freePort())}`;
    const args = [
      "control-plane",
      "--listen",
      address,
      "--heartbeat-interval",
      `${spec.heartbeatMs ?? TEST_HEARTBEAT_MS}ms`,
    ];
    if (spec.staticNodes !== undefined) args.push("--static-nodes", spec.staticNodes.join(","));
    args.push(...this.tlsArgs("control-plane"));
    await bundleOnce();
    const daemon = this.spawn(`control-plane ${address}`, address, args);
    const client = this.client(address, 2_000);
    await this.untilServing(daemon, () => client.serverInfo());
    return daemon;
  }

  async nodeAgent(spec: NodeAgentSpec): Promise<Daemon> {
    const address = `127.0.0.1:${spec.port ?? (await freePort())}`;
    const args = ["node-agent", "--listen", address, "--node-id", spec.nodeId];
    if (spec.controlPlane !== undefined) args.push("--control-plane", spec.controlPlane);
    const labels = Object.entries(spec.labels ?? {});
    if (labels.length > 0) args.push("--labels", labels.map(([k, v]) => `${k}=${v}`).join(","));
    if (spec.maxInstances !== undefined) args.push("--max-instances", String(spec.maxInstances));
    args.push(...this.tlsArgs(`node-${spec.nodeId}`));
    await bundleOnce();
    const daemon = this.spawn(`node-agent ${spec.nodeId}`, address, args);
    const node = connectNode(address, { timeoutMs: 2_000, tls: this.tls("control-plane") });
    this.clients.push(node);
    await this.untilServing(daemon, () => node.nodeInfo());
    return daemon;
  }

  /** A provider process (`wasmatrix provider`) registered with the control plane. */
  async provider(spec: {
    capability: string;
    providerId: string;
    controlPlane: string;
    port?: number;
  }): Promise<Daemon> {
    const address = `127.0.0.1:${spec.port ?? (await freePort())}`;
    const args = [
      "provider",
      spec.capability,
      "--id",
      spec.providerId,
      "--control-plane",
      spec.controlPlane,
      "--listen",
      address,
      "--heartbeat-interval",
      `${TEST_HEARTBEAT_MS}ms`,
      ...this.tlsArgs(`provider-${spec.providerId}`),
    ];
    await bundleOnce();
    const daemon = this.spawn(`provider ${spec.providerId}`, address, args);
    const probe = connectProvider(address, { tls: this.tls("client-harness") });
    this.clients.push(probe);
    await this.untilServing(daemon, () => probe.providerInfo());
    return daemon;
  }

  /** A control-plane client closed with the cluster. */
  client(address: string, timeoutMs = 10_000): WasmatrixClient {
    const client = connect(address, { timeoutMs, tls: this.tls("client-harness") });
    this.clients.push(client);
    return client;
  }

  /** Waits until the control plane lists every one of `nodeIds` as alive. */
  async nodesAlive(client: WasmatrixClient, nodeIds: string[], options?: WaitOptions): Promise<pb.Node[]> {
    return waitFor(
      `nodes ${nodeIds.join(", ")} alive at ${client.address}`,
      async () => {
        const { nodes } = await client.listNodes();
        const alive = nodes.filter((n) => nodeIds.includes(n.nodeId) && n.status === "alive");
        return alive.length === nodeIds.length ? nodes : undefined;
      },
      options,
    );
  }

  /** Kills every daemon still alive (SIGKILL: a test that failed must not wait on a graceful stop). */
  async close(): Promise<void> {
    for (const client of this.clients) client.close();
    await Promise.all(
      this.daemons
        .filter((d) => d.child.exitCode === null && d.child.signalCode === null)
        .map((d) => d.kill("SIGKILL")),
    );
  }

  private spawn(name: string, address: string, args: string[]): Daemon {
    const daemon = spawnDaemon(name, address, [...args, "--log-level", "warn"]);
    this.daemons.push(daemon);
    return daemon;
  }

  private untilServing(daemon: Daemon, probe: () => Promise<unknown>): Promise<void> {
    return untilServing(daemon, probe);
  }
}

/** The test's environment minus every WASMATRIX_ variable: the daemons get their options from flags only. */
function daemonEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of Object.keys(env)) if (key.startsWith("WASMATRIX_")) delete env[key];
  return env;
}

/** Spawns `wasmatrix <args>` as a real child process, killed with the test process at the latest. */
export function spawnDaemon(name: string, address: string, args: string[]): Daemon {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    stdio: ["ignore", "ignore", "pipe"],
    env: daemonEnv(),
  });
  killWithTests(child);
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-STDERR_KEPT_CHARS);
  });
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.once("exit", (code, signal) => {
      resolve({ code, signal });
    }),
  );
  const daemon: Daemon = {
    name,
    address,
    child,
    stderr: () => stderr,
    async kill(signal) {
      const sentAt = Date.now();
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return { sentAt, ...(await exited) };
    },
  };
  return daemon;
}

/** Resolves once `probe` answers; fails with the daemon's stderr if it exits or never serves. */
export async function untilServing(daemon: Daemon, probe: () => Promise<unknown>): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (daemon.child.exitCode !== null || daemon.child.signalCode !== null) {
      throw new Error(
        `${daemon.name} exited (${daemon.child.exitCode ?? daemon.child.signalCode}):\n${daemon.stderr()}`,
      );
    }
    try {
      await probe();
      return;
    } catch (error) {
      if (Date.now() > deadline) {
        throw new Error(`${daemon.name} did not serve: ${(error as Error).message}\n${daemon.stderr()}`);
      }
    }
    await sleep(50);
  }
}

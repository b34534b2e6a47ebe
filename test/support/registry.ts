import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request } from "undici";
import { freePort } from "./ports.js";
import { findBinary, killWithTests } from "./processes.js";

/**
 * A real OCI distribution registry for tests: Debian's `docker-registry` (the CNCF distribution
 * registry) on a free loopback port, its storage in a fresh temp dir, no auth.
 */
export interface Registry {
  /** `127.0.0.1:<port>`, the host part of references. */
  readonly host: string;
  /** Where the registry keeps blobs (`docker/registry/v2/blobs/sha256/<2>/<hex>/data`). */
  readonly storageDir: string;
  /** The file a stored blob lives in: tests corrupt it to see a pull refuse the bytes. */
  blobPath(digest: string): string;
  stop(): Promise<void>;
}

const INSTALL_HINT =
  "docker-registry is not installed; run scripts/install-toolchain.sh (it installs the Debian package docker-registry)";
const START_TIMEOUT_MS = 15_000;

export async function startRegistry(): Promise<Registry> {
  const binary = findBinary(
    "docker-registry",
    [process.env["DOCKER_REGISTRY_BIN"], "/usr/bin/docker-registry"],
    INSTALL_HINT,
  );
  const storageDir = await mkdtemp(join(tmpdir(), "wasmatrix-registry-"));
  const port = await freePort();
  const config = join(storageDir, "config.yml");
  await writeFile(
    config,
    [
      "version: 0.1",
      "log:",
      "  level: error",
      "storage:",
      "  filesystem:",
      `    rootdirectory: ${join(storageDir, "data")}`,
      "  delete:",
      "    enabled: true",
      "http:",
      `  addr: 127.0.0.1:${port}`,
      "",
    ].join("\n"),
  );
  const child: ChildProcess = spawn(binary, ["serve", config], { stdio: ["ignore", "ignore", "pipe"] });
  killWithTests(child);
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const host = `127.0.0.1:${port}`;
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited with ${child.exitCode}: ${stderr}`);
    const ok = await request(`http://${host}/v2/`)
      .then(async (res) => {
        await res.body.dump();
        return res.statusCode === 200;
      })
      .catch(() => false);
    if (ok) break;
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`docker-registry did not answer on ${host} within ${START_TIMEOUT_MS} ms: ${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    host,
    storageDir,
    blobPath: (digest) => {
      const hex = digest.replace(/^sha256:/, "");
      return join(
        storageDir,
        "data",
        "docker",
        "registry",
        "v2",
        "blobs",
        "sha256",
        hex.slice(0, 2),
        hex,
        "data",
      );
    },
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGTERM");
        await exited;
      }
      await rm(storageDir, { recursive: true, force: true });
    },
  };
}

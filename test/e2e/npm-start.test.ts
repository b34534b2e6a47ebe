import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { freePort } from "../support/ports.js";
import { killWithTests } from "../support/processes.js";

/**
 * `npm start` as the README tells a new user to run it, stopped the way a supervisor or a script
 * stops a process: SIGTERM to the pid it started. npm forwards the signal only to its direct
 * child, the `sh -c` it runs scripts with; a shell that does not pass it on leaves the server
 * behind, so every process of the group must be gone and the port closed.
 */

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const ECHO = join(ROOT, "examples/build/echo_reactor.wasm");
const HAVE_ECHO = existsSync(ECHO);
if (!HAVE_ECHO) {
  console.warn(`skipping the npm start test: ${ECHO} is missing; build it with: npm run build:examples`);
}

const READY_TIMEOUT_MS = 30_000;
const EXIT_TIMEOUT_MS = 20_000;

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** Whether any process is left in the process group `pgid`. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== "ESRCH";
  }
}

describe.skipIf(!HAVE_ECHO)("npm start", () => {
  it(
    "stops, server included, when the npm process gets SIGTERM",
    async () => {
      const port = await freePort();
      // A group of its own, so that whatever npm started can be found (and cleaned up) afterwards.
      const npm = spawn(
        "npm",
        ["start", "--", "--listen", `127.0.0.1:${port}`, "--http", "off", "--log-level", "warn"],
        {
          cwd: ROOT,
          detached: true,
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
      killWithTests(npm);
      const pgid = npm.pid!;
      let output = "";
      npm.stderr.on("data", (chunk: Buffer) => {
        output += chunk.toString();
      });
      try {
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(
            () => reject(new Error(`no banner from npm start:\n${output}`)),
            READY_TIMEOUT_MS,
          );
          npm.stdout.on("data", (chunk: Buffer) => {
            output += chunk.toString();
            if (output.includes("Ctrl-C stops it")) {
              clearTimeout(timer);
              resolve();
            }
          });
          npm.once("exit", (code) => {
            clearTimeout(timer);
            reject(new Error(`npm start exited with ${code}:\n${output}`));
          });
        });
        expect(await accepts(port)).toBe(true);

        const exited = new Promise<void>((resolve) => npm.once("exit", () => resolve()));
        npm.kill("SIGTERM");
        await exited;
        // The server closes before its process exits; give the group's last process time to go.
        const deadline = Date.now() + EXIT_TIMEOUT_MS;
        while (groupAlive(pgid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
        expect(groupAlive(pgid), output).toBe(false);
        expect(await accepts(port)).toBe(false);
      } finally {
        if (groupAlive(pgid)) process.kill(-pgid, "SIGKILL");
      }
    },
    READY_TIMEOUT_MS + EXIT_TIMEOUT_MS + 5_000,
  );
});

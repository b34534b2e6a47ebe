import type { ChildProcess } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

/**
 * The first executable among `candidates` (explicit paths first), then `binary` on the PATH.
 * Throws `installHint` when there is none: tests that need a server fail, never skip.
 */
export function findBinary(
  binary: string,
  candidates: readonly (string | undefined)[],
  installHint: string,
  path: string = process.env["PATH"] ?? "",
): string {
  const onPath = path.split(delimiter).map((dir) => join(dir, binary));
  for (const candidate of [...candidates, ...onPath]) {
    // The bare name would be looked up in the working directory, not on the PATH.
    if (candidate === undefined || candidate === "" || candidate === binary) continue;
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not this one
    }
  }
  throw new Error(installHint);
}

const running = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

/** A server or daemon still running when the test process exits is killed with it. */
export function killWithTests(child: ChildProcess): void {
  running.add(child);
  child.once("exit", () => running.delete(child));
}

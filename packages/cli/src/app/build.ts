import { spawn } from "node:child_process";
import { ErrorCode, WasmatrixError } from "@wasmatrix/core";
import type { ComponentSpec } from "./manifest.js";

/**
 * Runs a component's build command (`sh -c`, in its workdir). Its output goes to stderr as it
 * comes, so a deploy shows build errors where they happen and `--json` output stays clean.
 */
export function runBuild(component: ComponentSpec): Promise<void> {
  const build = component.build;
  if (build === undefined) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const child = spawn("sh", ["-c", build.command], { cwd: build.workdir, stdio: ["ignore", 2, 2] });
    child.once("error", (error) => reject(buildFailed(component, error.message)));
    child.once("exit", (code, signal) => {
      if (code === 0) resolve();
      else reject(buildFailed(component, signal ? `killed by ${signal}` : `exited with ${code}`));
    });
  });
}

function buildFailed(component: ComponentSpec, why: string): WasmatrixError {
  return new WasmatrixError(
    ErrorCode.INVALID_REQUEST,
    `the build of component '${component.name}' failed (${why}): ${component.build?.command}; nothing was deployed`,
    { component: component.name, reason: "build_failed" },
  );
}

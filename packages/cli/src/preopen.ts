import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { ErrorCode, WasmatrixError } from "@wasmatrix/core";
import type { Preopen } from "@wasmatrix/runtime";

/**
 * `--dir HOST[::GUEST][:ro]`, as `wasmtime run --dir HOST::GUEST`: the guest sees HOST's
 * contents at GUEST (default: HOST as written), read-only with `:ro`.
 */
export function parsePreopen(spec: string): Preopen {
  let rest = spec;
  let readOnly = false;
  if (rest.endsWith(":ro")) {
    readOnly = true;
    rest = rest.slice(0, -3);
  }
  const split = rest.indexOf("::");
  const host = split === -1 ? rest : rest.slice(0, split);
  const guest = split === -1 ? rest : rest.slice(split + 2);
  if (host === "" || guest === "") {
    throw new WasmatrixError(
      ErrorCode.INVALID_REQUEST,
      `--dir '${spec}' needs a host directory and a guest path: --dir HOST[::GUEST][:ro], e.g. --dir ./data::/data`,
      { dir: spec },
    );
  }
  const hostPath = resolve(host);
  if (!existsSync(hostPath) || !statSync(hostPath).isDirectory()) {
    throw new WasmatrixError(
      ErrorCode.INVALID_REQUEST,
      `--dir '${spec}': '${host}' is not a directory; create it first or fix the path`,
      { dir: spec },
    );
  }
  return { hostPath, guestPath: guest, readOnly };
}

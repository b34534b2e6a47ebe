import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { type CapabilityAssignment, ErrorCode, WasmatrixError } from "@wasmatrix/core";
import type { FilesystemQuota, Preopen } from "@wasmatrix/runtime";

/** What an instance may store under its preopens unless the node says otherwise. */
export const DEFAULT_INSTANCE_QUOTA: Required<FilesystemQuota> = {
  maxBytes: 1024 * 1024 * 1024,
  maxInodes: 100_000,
  maxOpenFiles: 1024,
};

/**
 * Where an instance's directories live on this node: one per guest path it is granted, under
 * `<data-dir>/tenants/<tenant>/instances/<instance>/fs/`. Ids use [A-Za-z0-9._-] and cannot be
 * `.` or `..`; guest paths are encoded into one component, so `/data` and `/data/sub` are two
 * separate directories and no guest path can name another instance's.
 */
export function instanceDirectory(dataDir: string, tenant: string, instanceId: string): string {
  return join(dataDir, "tenants", tenant, "instances", instanceId);
}

/**
 * The preopens the instance's filesystem assignments grant, each directory created (mode 0700)
 * if missing. A path granted both read and write is writable. Without a data directory the node
 * cannot serve the capability, and says so.
 */
export function preopensFor(
  dataDir: string | undefined,
  tenant: string,
  instanceId: string,
  assignments: readonly CapabilityAssignment[],
): Preopen[] {
  const writable = new Map<string, boolean>();
  for (const assignment of assignments) {
    if (assignment.capability !== "filesystem") continue;
    for (const permission of assignment.permissions) {
      if (permission.kind !== "fs") continue;
      writable.set(
        permission.path,
        (writable.get(permission.path) ?? false) || permission.action === "write",
      );
    }
  }
  if (writable.size === 0) return [];
  if (dataDir === undefined) {
    throw new WasmatrixError(
      ErrorCode.INVALID_REQUEST,
      "this node has no data directory, so it cannot give instances the filesystem capability; start it with --data-dir",
      { capability: "filesystem", instanceId },
    );
  }
  const base = join(instanceDirectory(dataDir, tenant, instanceId), "fs");
  return [...writable].map(([guestPath, canWrite]) => {
    const hostPath = join(base, encodeURIComponent(guestPath));
    mkdirSync(hostPath, { recursive: true, mode: 0o700 });
    return { hostPath, guestPath, readOnly: !canWrite };
  });
}

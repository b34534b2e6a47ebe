import { type BigIntStats, lstatSync, readlinkSync } from "node:fs";
import { WasiErrno } from "./errno.js";
import { errnoOf } from "./host-errno.js";

/** Longest path a guest may pass, in UTF-8 bytes (Linux PATH_MAX). */
export const MAX_PATH_BYTES = 4096;
/** Longest single component, in UTF-8 bytes (Linux NAME_MAX). */
export const MAX_NAME_BYTES = 255;
/** Symlinks one resolution follows before it answers LOOP (Linux MAXSYMLINKS). */
export const MAX_SYMLINK_HOPS = 40;

/**
 * Where a guest path landed, always below the preopen's root. `dir` is the directory holding the
 * final component, as real directory names below the root (no `.`, `..` or symlinks); `name` is
 * that final component, or null when the path ended on a directory itself (`.`, `..`, `a/..`).
 */
export interface Resolved {
  dir: readonly string[];
  name: string | null;
  /** The final entry, not followed unless the caller asked to; null when it does not exist. */
  stat: BigIntStats | null;
  /** The path ended in `/` (or `/.`): the final entry must be, or become, a directory. */
  mustBeDir: boolean;
}

export type Resolution = { ok: true; value: Resolved } | { ok: false; errno: WasiErrno };

const encoder = new TextEncoder();

/** The host path of `components` below `root`. Every component is a plain name: no `/`, `.`, `..`. */
export function hostPath(root: string, components: readonly string[]): string {
  return components.length === 0 ? root : `${root}/${components.join("/")}`;
}

export function resolvedHostPath(root: string, resolved: Resolved): string {
  return hostPath(root, resolved.name === null ? resolved.dir : [...resolved.dir, resolved.name]);
}

function lstatOrNull(path: string): BigIntStats | null {
  return lstatSync(path, { bigint: true, throwIfNoEntry: false }) ?? null;
}

/**
 * Resolves a guest path against directory `start` (components below `root`) the way `openat`
 * beneath a directory fd would, one component at a time, without ever handing the host a path
 * containing `..` or a symlink: the walk keeps its own stack of real directory names, so `..`
 * can only pop what the walk itself pushed, and each symlink's target is spliced into the
 * remaining components and walked the same way. The result's host path is therefore always
 * `root` followed by names of real directories, whatever the guest or the tree holds.
 *
 * Refused, with wasmtime's errnos: absolute paths and absolute symlink targets (PERM), `..`
 * above the root (PERM), NUL (INVAL), over-long paths or names (NAMETOOLONG), empty paths
 * (NOENT), more than 40 symlinks (LOOP). A symlink in the final position is followed only when
 * `followFinal` is set or the path ends in a slash, as in POSIX.
 *
 * The walk is not atomic: a host process (not the guest, which is stopped during the call) that
 * swaps a checked directory for a symlink between the check and the use could redirect it.
 * Callers open final files with O_NOFOLLOW so the last step cannot be redirected that way.
 */
export function resolvePath(
  root: string,
  start: readonly string[],
  path: string,
  followFinal: boolean,
): Resolution {
  const fail = (errno: WasiErrno): Resolution => ({ ok: false, errno });
  if (path.includes("\0")) return fail(WasiErrno.INVAL);
  if (encoder.encode(path).byteLength > MAX_PATH_BYTES) return fail(WasiErrno.NAMETOOLONG);
  if (path === "") return fail(WasiErrno.NOENT);
  if (path.startsWith("/")) return fail(WasiErrno.PERM);
  const dir = [...start];
  const queue = path.split("/");
  let hops = 0;
  while (queue.length > 0) {
    const component = queue.shift()!;
    if (component === "" || component === ".") continue;
    if (component === "..") {
      if (dir.length === 0) return fail(WasiErrno.PERM);
      dir.pop();
      continue;
    }
    if (encoder.encode(component).byteLength > MAX_NAME_BYTES) return fail(WasiErrno.NAMETOOLONG);
    // Only empty and `.` components left: this is the final one, and those make it a directory.
    const last = queue.every((rest) => rest === "" || rest === ".");
    const mustBeDir = last && queue.length > 0;
    let stat: BigIntStats | null;
    try {
      stat = lstatOrNull(hostPath(root, [...dir, component]));
    } catch (error) {
      return fail(errnoOf(error));
    }
    if (stat === null) {
      if (last) return { ok: true, value: { dir, name: component, stat: null, mustBeDir } };
      return fail(WasiErrno.NOENT);
    }
    if (stat.isSymbolicLink() && (!last || followFinal || mustBeDir)) {
      if (++hops > MAX_SYMLINK_HOPS) return fail(WasiErrno.LOOP);
      let target: string;
      try {
        target = readlinkSync(hostPath(root, [...dir, component]), "utf8");
      } catch (error) {
        return fail(errnoOf(error));
      }
      if (target.startsWith("/")) return fail(WasiErrno.PERM);
      if (target === "") return fail(WasiErrno.NOENT);
      queue.unshift(...target.split("/"));
      continue;
    }
    if (last) {
      if (mustBeDir && !stat.isDirectory()) return fail(WasiErrno.NOTDIR);
      return { ok: true, value: { dir, name: component, stat, mustBeDir } };
    }
    if (!stat.isDirectory()) return fail(WasiErrno.NOTDIR);
    dir.push(component);
  }
  // The path ended on a directory the walk already stands in.
  let stat: BigIntStats | null;
  try {
    stat = lstatOrNull(hostPath(root, dir));
  } catch (error) {
    return fail(errnoOf(error));
  }
  if (stat === null) return fail(WasiErrno.NOENT);
  return { ok: true, value: { dir, name: null, stat, mustBeDir: true } };
}

import {
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WasiErrno } from "./errno.js";
import { hostPath, resolvePath } from "./path.js";
import { type Probe, probe } from "./probe.fixture.js";

const SECRET = "SECRET-OUTSIDE-THE-PREOPEN";
const silent = { write() {} };
const encoder = new TextEncoder();

/**
 * A real tree with hostile entries: symlinks that climb out relatively and absolutely, a link
 * loop, a hard link to a file outside (which is inside by definition: same inode, reachable
 * only by its name here), and a sibling directory whose name shares the root's prefix.
 */
let base: string;
let root: string;
let outside: string;

beforeAll(() => {
  base = realpathSync(mkdtempSync(join(tmpdir(), "wasmatrix-path-")));
  root = join(base, "root");
  outside = join(base, "root-sibling");
  mkdirSync(join(root, "d", "e"), { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(outside, "secret"), SECRET);
  writeFileSync(join(base, "secret"), SECRET);
  writeFileSync(join(root, "a"), "inside");
  writeFileSync(join(outside, "hard-target"), "hard");
  linkSync(join(outside, "hard-target"), join(root, "hard"));
  symlinkSync(join(outside, "secret"), join(root, "abs"));
  symlinkSync("/", join(root, "slash"));
  symlinkSync("..", join(root, "up"));
  symlinkSync("../..", join(root, "d", "upup"));
  symlinkSync("../root-sibling", join(root, "sib"));
  symlinkSync("d", join(root, "in"));
  symlinkSync("../a", join(root, "d", "back"));
  symlinkSync("loop", join(root, "loop"));
  symlinkSync("d/", join(root, "trail"));
  symlinkSync("e/../../up/secret", join(root, "d", "sneaky"));
});

afterAll(() => rmSync(base, { recursive: true, force: true }));

const COMPONENTS = [
  "",
  ".",
  "..",
  "a",
  "d",
  "e",
  "abs",
  "slash",
  "up",
  "upup",
  "sib",
  "in",
  "back",
  "loop",
  "trail",
  "sneaky",
  "hard",
  "secret",
  "root",
  "root-sibling",
  "x".repeat(300),
];

/** Paths made of the tree's names, `.` and `..`, plus arbitrary strings (NUL, unicode, slashes). */
const guestPath = fc.oneof(
  fc
    .tuple(
      fc.boolean(),
      fc.array(fc.oneof(fc.constantFrom(...COMPONENTS), fc.string({ maxLength: 4 })), {
        minLength: 0,
        maxLength: 12,
      }),
      fc.boolean(),
    )
    .map(([lead, parts, trail]) => `${lead ? "/" : ""}${parts.join("/")}${trail ? "/" : ""}`),
  fc.string({ unit: "grapheme", maxLength: 64 }),
  fc.string({ unit: "binary", maxLength: 64 }),
);

/** True when every directory of `components` below root is a real directory, not a symlink. */
function realDirectories(components: readonly string[]): boolean {
  for (let i = 1; i <= components.length; i++) {
    const stat = lstatSync(hostPath(root, components.slice(0, i)), { throwIfNoEntry: false });
    if (stat === undefined || !stat.isDirectory() || stat.isSymbolicLink()) return false;
  }
  return true;
}

describe("WASI path resolution", () => {
  it("never lands outside the preopen, whatever the path and with or without following", () => {
    fc.assert(
      fc.property(guestPath, fc.boolean(), fc.constantFrom([], ["d"], ["d", "e"]), (path, follow, start) => {
        const result = resolvePath(root, start, path, follow);
        if (!result.ok) return;
        const { dir, name } = result.value;
        // Plain names only: nothing the host could reinterpret.
        for (const part of [...dir, ...(name === null ? [] : [name])]) {
          expect(part).not.toMatch(/^\.\.?$|\/|\0/);
          expect(part).not.toBe("");
        }
        expect(realDirectories(dir)).toBe(true);
        const parent = realpathSync(hostPath(root, dir));
        expect(parent === root || parent.startsWith(`${root}/`)).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it("refuses each hostile shape with wasmtime's errno", () => {
    const errno = (path: string, follow = true) => {
      const result = resolvePath(root, [], path, follow);
      return result.ok ? WasiErrno.SUCCESS : result.errno;
    };
    expect(errno("..")).toBe(WasiErrno.PERM);
    expect(errno("d/../..")).toBe(WasiErrno.PERM);
    expect(errno("/etc/passwd")).toBe(WasiErrno.PERM);
    expect(errno("abs")).toBe(WasiErrno.PERM);
    expect(errno("slash/etc")).toBe(WasiErrno.PERM);
    expect(errno("up/root-sibling/secret")).toBe(WasiErrno.PERM);
    expect(errno("d/upup")).toBe(WasiErrno.PERM);
    expect(errno("sib/secret")).toBe(WasiErrno.PERM);
    expect(errno("d/sneaky")).toBe(WasiErrno.PERM);
    expect(errno("loop")).toBe(WasiErrno.LOOP);
    expect(errno("a\0b")).toBe(WasiErrno.INVAL);
    expect(errno("x".repeat(256))).toBe(WasiErrno.NAMETOOLONG);
    expect(errno("d/".repeat(2049))).toBe(WasiErrno.NAMETOOLONG);
    expect(errno("")).toBe(WasiErrno.NOENT);
    expect(errno("a/")).toBe(WasiErrno.NOTDIR);
    expect(errno("a/.")).toBe(WasiErrno.NOTDIR);
    expect(errno("missing/x")).toBe(WasiErrno.NOENT);
    // Not followed in the final position, a hostile link is only a name, and harmless.
    expect(errno("abs", false)).toBe(WasiErrno.SUCCESS);
    // Followed through a trailing slash even when not asked to, as POSIX does.
    expect(errno("trail/", false)).toBe(WasiErrno.SUCCESS);
    expect(errno("in/back")).toBe(WasiErrno.SUCCESS);
    expect(errno("d/e/../../a")).toBe(WasiErrno.SUCCESS);
  });
});

describe("WASI path calls against a hostile tree", () => {
  let p: Probe;
  let sandbox: string;

  beforeAll(async () => {
    sandbox = join(base, "sandbox-parent", "sandbox");
    mkdirSync(sandbox, { recursive: true });
    writeFileSync(join(base, "sandbox-parent", "secret"), SECRET);
    symlinkSync("..", join(sandbox, "up"));
    symlinkSync(join(base, "sandbox-parent"), join(sandbox, "abs"));
    p = await probe({
      args: [],
      env: {},
      stdout: silent,
      stderr: silent,
      preopens: [{ hostPath: sandbox, guestPath: "/sandbox" }],
    });
  });

  const put = (text: string, at: number): number => {
    const bytes = encoder.encode(text);
    p.bytes().set(bytes, at);
    return bytes.byteLength;
  };

  it("reads no byte of a file outside, and creates nothing outside, whatever it is asked", () => {
    const before = readdirSync(join(base, "sandbox-parent")).sort();
    const decoder = new TextDecoder();
    fc.assert(
      fc.property(guestPath, guestPath, fc.integer({ min: 0, max: 1 }), (path, other, follow) => {
        const len = put(path, 1024);
        const otherLen = put(other, 8192);
        const rights = (1n << 1n) | (1n << 6n);
        // path_open with read and write rights and O_CREAT: whatever opens is read back.
        if (p.call["path_open"]!(3, follow, 1024, len, 1, rights, 0n, 0, 64) === WasiErrno.SUCCESS) {
          const fd = p.view().getUint32(64, true);
          p.view().setUint32(128, 16384, true);
          p.view().setUint32(132, 256, true);
          if (p.call["fd_read"]!(fd, 128, 1, 72) === WasiErrno.SUCCESS) {
            const n = p.view().getUint32(72, true);
            expect(decoder.decode(p.bytes().subarray(16384, 16384 + n))).not.toContain("SECRET");
          }
          p.call["fd_close"]!(fd);
        }
        p.call["path_create_directory"]!(3, 1024, len);
        p.call["path_symlink"]!(8192, otherLen, 3, 1024, len);
        p.call["path_link"]!(3, follow, 8192, otherLen, 3, 1024, len);
        p.call["path_rename"]!(3, 8192, otherLen, 3, 1024, len);
        expect(readdirSync(join(base, "sandbox-parent")).sort()).toEqual(before);
      }),
      { numRuns: 1500 },
    );
  });

  it("tells the guest its preopen's name, and BADF past the last one", () => {
    expect(p.call["fd_prestat_get"]!(3, 64)).toBe(WasiErrno.SUCCESS);
    expect(p.view().getUint8(64)).toBe(0);
    expect(p.view().getUint32(68, true)).toBe(8);
    expect(p.call["fd_prestat_dir_name"]!(3, 256, 3)).toBe(WasiErrno.NAMETOOLONG);
    expect(p.call["fd_prestat_dir_name"]!(3, 256, 8)).toBe(WasiErrno.SUCCESS);
    expect(new TextDecoder().decode(p.bytes().subarray(256, 264))).toBe("/sandbox");
    expect(p.call["fd_prestat_get"]!(4, 64)).toBe(WasiErrno.BADF);
  });
});

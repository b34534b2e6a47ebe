import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { WasiErrno } from "./errno.js";
import { type Probe, probe } from "./probe.fixture.js";
import { FileType, OFlags, Rights } from "./rights.js";

const silent = { write() {} };
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const READ_WRITE = Rights.FD_READ | Rights.FD_WRITE | Rights.FD_SEEK | Rights.FD_TELL;

/** WASI file calls across a real Wasm boundary, against a fresh directory. */
describe("WASI file descriptors", () => {
  let dir: string;
  let p: Probe;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "wasmatrix-fs-"));
    mkdirSync(join(dir, "rw"));
    mkdirSync(join(dir, "ro"));
    writeFileSync(join(dir, "ro", "file"), "read only");
    p = await probe({
      args: [],
      env: {},
      stdout: silent,
      stderr: silent,
      preopens: [
        { hostPath: join(dir, "rw"), guestPath: "/rw" },
        { hostPath: join(dir, "ro"), guestPath: "/ro", readOnly: true },
      ],
    });
  });

  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const put = (text: string, at = 1024): [number, number] => {
    const bytes = encoder.encode(text);
    p.bytes().set(bytes, at);
    return [at, bytes.byteLength];
  };
  const open = (fd: number, path: string, oflags = 0, rights = READ_WRITE): number | WasiErrno => {
    const errno = p.call["path_open"]!(fd, 1, ...put(path), oflags, rights, READ_WRITE, 0, 64);
    return errno === WasiErrno.SUCCESS ? p.view().getUint32(64, true) : -errno;
  };

  it("withholds write rights on a read-only preopen and refuses every change below it with PERM", () => {
    expect(p.call["fd_fdstat_get"]!(4, 128)).toBe(WasiErrno.SUCCESS);
    expect(p.view().getUint8(128)).toBe(FileType.DIRECTORY);
    expect(p.view().getBigUint64(136, true) & Rights.PATH_CREATE_FILE).toBe(0n);
    expect(p.view().getBigUint64(144, true) & Rights.FD_WRITE).toBe(0n);
    expect(p.call["path_create_directory"]!(4, ...put("d"))).toBe(WasiErrno.PERM);
    expect(p.call["path_unlink_file"]!(4, ...put("file"))).toBe(WasiErrno.PERM);
    expect(open(4, "new", OFlags.CREAT)).toBe(-WasiErrno.PERM);
    expect(open(4, "file", OFlags.TRUNC)).toBe(-WasiErrno.PERM);
    const fd = open(4, "file", 0, Rights.FD_READ);
    expect(fd).toBeGreaterThan(4);
    expect(readdirSync(join(dir, "ro"))).toEqual(["file"]);
  });

  it("lists a directory across calls with cookies, cutting a record that does not fit", () => {
    for (const name of ["alpha", "beta", "gamma"]) writeFileSync(join(dir, "rw", name), name);
    const names: string[] = [];
    let cookie = 0n;
    // 40 bytes hold one 24-byte header and part of the next: libc then asks again from d_next.
    for (let round = 0; round < 20; round++) {
      expect(p.call["fd_readdir"]!(3, 2048, 40, cookie, 64)).toBe(WasiErrno.SUCCESS);
      const used = p.view().getUint32(64, true);
      const view = p.view();
      const namlen = view.getUint32(2048 + 16, true);
      if (used < 24 + namlen && used < 40) break;
      names.push(decoder.decode(p.bytes().subarray(2048 + 24, 2048 + 24 + namlen)));
      cookie = view.getBigUint64(2048, true);
      if (used < 40) break;
    }
    expect(names).toEqual([".", "..", "alpha", "beta", "gamma"]);
  });

  it("answers the common mistakes with POSIX's errnos", () => {
    writeFileSync(join(dir, "rw", "f"), "x");
    expect(open(3, "f", OFlags.DIRECTORY)).toBe(-WasiErrno.NOTDIR);
    expect(open(3, "f", OFlags.CREAT | OFlags.EXCL)).toBe(-WasiErrno.EXIST);
    expect(open(3, "f/")).toBe(-WasiErrno.NOTDIR);
    expect(open(3, "missing")).toBe(-WasiErrno.NOENT);
    expect(open(3, "missing/", OFlags.CREAT)).toBe(-WasiErrno.ISDIR);
    expect(p.call["path_unlink_file"]!(3, ...put("f/"))).toBe(WasiErrno.NOTDIR);
    expect(p.call["path_remove_directory"]!(3, ...put("."))).toBe(WasiErrno.INVAL);
    expect(p.call["path_create_directory"]!(3, ...put("."))).toBe(WasiErrno.EXIST);
    expect(p.call["path_rename"]!(3, ...put("f", 1024), 4, ...put("g", 1100))).toBe(WasiErrno.XDEV);
    const fd = open(3, "f") as number;
    expect(p.call["path_open"]!(fd, 0, ...put("x"), 0, 0n, 0n, 0, 64)).toBe(WasiErrno.NOTDIR);
    expect(p.call["fd_readdir"]!(fd, 2048, 64, 0n, 64)).toBe(WasiErrno.NOTDIR);
    expect(p.call["fd_seek"]!(fd, -1n, 0, 64)).toBe(WasiErrno.INVAL);
    expect(p.call["fd_seek"]!(fd, 0n, 3, 64)).toBe(WasiErrno.INVAL);
    expect(p.call["fd_renumber"]!(fd, 99)).toBe(WasiErrno.BADF);
    expect(p.call["fd_prestat_get"]!(fd, 64)).toBe(WasiErrno.BADF);
    expect(p.call["fd_fdstat_set_flags"]!(fd, 16)).toBe(WasiErrno.INVAL);
    expect(p.call["sock_shutdown"]!(fd, 0)).toBe(WasiErrno.NOTSOCK);
    expect(p.call["fd_close"]!(fd)).toBe(WasiErrno.SUCCESS);
    expect(p.call["fd_close"]!(fd)).toBe(WasiErrno.BADF);
  });

  it("returns FAULT for a path or buffer outside memory, and changes nothing", () => {
    const end = p.memory.buffer.byteLength;
    expect(p.call["path_create_directory"]!(3, end - 2, 8)).toBe(WasiErrno.FAULT);
    expect(p.call["path_open"]!(3, 0, ...put("new"), OFlags.CREAT, READ_WRITE, 0n, 0, end)).toBe(
      WasiErrno.FAULT,
    );
    expect(readdirSync(join(dir, "rw"))).toEqual([]);
  });
});

import {
  type BigIntStats,
  closeSync,
  constants,
  fdatasyncSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  futimesSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readdirSync,
  readlinkSync,
  readSync,
  realpathSync,
  renameSync,
  rmdirSync,
  statSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeSync,
} from "node:fs";
import { ErrorCode, WasmatrixError } from "@wasmatrix/core";
import { WasiErrno } from "./errno.js";
import { errnoOf } from "./host-errno.js";
import { type GuestMemory, MemoryFault } from "./memory.js";
import { hostPath, MAX_PATH_BYTES, type Resolved, resolvedHostPath, resolvePath } from "./path.js";
import { DEFAULT_MAX_OPEN_FILES, type FilesystemQuota, QuotaUsage } from "./quota.js";
import {
  DIR_RIGHTS,
  DIR_WRITE_RIGHTS,
  FdFlags,
  FILE_RIGHTS,
  FileType,
  FstFlags,
  LOOKUP_SYMLINK_FOLLOW,
  OFlags,
  Rights,
  Whence,
  WRITE_RIGHTS,
} from "./rights.js";

/** A host directory a guest sees at `guestPath`, as `wasmtime run --dir HOST::GUEST` gives it. */
export interface Preopen {
  hostPath: string;
  guestPath: string;
  /** No writes, creations, removals or renames below it: they fail with PERM. */
  readOnly?: boolean;
}

interface Mount {
  /** The host directory, symlinks resolved once when the instance starts. */
  root: string;
  readOnly: boolean;
}

export interface StdioEntry {
  kind: "stdio";
  stream: 0 | 1 | 2;
}

interface DirEntry {
  kind: "dir";
  mount: Mount;
  path: string[];
  /** The name `fd_prestat_dir_name` reports; null for directories the guest opened itself. */
  preopenName: string | null;
  rightsBase: bigint;
  rightsInheriting: bigint;
}

interface FileEntry {
  kind: "file";
  mount: Mount;
  hostFd: number;
  readable: boolean;
  writable: boolean;
  position: bigint;
  flags: number;
  rightsBase: bigint;
  rightsInheriting: bigint;
}

export type Descriptor = StdioEntry | DirEntry | FileEntry;

export const IOVEC_BYTES = 8;
const FDSTAT_BYTES = 24;
export const FILESTAT_BYTES = 64;
const DIRENT_BYTES = 24;
const PRESTAT_BYTES = 8;
const MAX_IO_BYTES = 16 * 1024 * 1024;
/** FILE_RIGHTS | DIR_RIGHTS: what a directory hands down to what is opened beneath it. */
const INHERITABLE = FILE_RIGHTS | DIR_RIGHTS;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

class Errno extends Error {
  constructor(readonly errno: WasiErrno) {
    super(`errno ${errno}`);
  }
}

/** Reads the iovec array; every buffer is checked before the caller touches any. */
export function readIovecs(
  memory: GuestMemory,
  iovsPtr: number,
  iovsLen: number,
): { ptr: number; len: number }[] {
  memory.check(iovsPtr, iovsLen * IOVEC_BYTES);
  const list: { ptr: number; len: number }[] = [];
  for (let i = 0; i < iovsLen; i++) {
    const ptr = memory.u32(iovsPtr + i * IOVEC_BYTES);
    const len = memory.u32(iovsPtr + i * IOVEC_BYTES + 4);
    memory.check(ptr, len);
    list.push({ ptr, len });
  }
  return list;
}

function fileType(stat: BigIntStats): number {
  if (stat.isFile()) return FileType.REGULAR_FILE;
  if (stat.isDirectory()) return FileType.DIRECTORY;
  if (stat.isSymbolicLink()) return FileType.SYMBOLIC_LINK;
  if (stat.isCharacterDevice()) return FileType.CHARACTER_DEVICE;
  if (stat.isBlockDevice()) return FileType.BLOCK_DEVICE;
  if (stat.isSocket()) return FileType.SOCKET_STREAM;
  return FileType.UNKNOWN;
}

/**
 * The descriptor table and every preview1 call that works on files and directories. Each call
 * returns an errno; a host failure becomes the errno its POSIX code maps to, never an exception
 * into the guest. Stdio lives in the same table (so `fd_renumber` and `fd_close` treat all fds
 * alike), but reading and writing it is the caller's business.
 */
export class WasiFilesystem {
  private readonly table = new Map<number, Descriptor>();
  private readonly usage: QuotaUsage;
  private readonly maxOpen: number;

  constructor(
    private readonly memory: GuestMemory,
    preopens: readonly Preopen[],
    quota: FilesystemQuota,
  ) {
    this.maxOpen = quota.maxOpenFiles ?? DEFAULT_MAX_OPEN_FILES;
    this.table.set(0, { kind: "stdio", stream: 0 });
    this.table.set(1, { kind: "stdio", stream: 1 });
    this.table.set(2, { kind: "stdio", stream: 2 });
    const mounts: Mount[] = [];
    let fd = 3;
    for (const preopen of preopens) {
      let root: string;
      try {
        root = realpathSync(preopen.hostPath);
        if (!statSync(root).isDirectory()) throw new Error("not a directory");
      } catch (error) {
        throw new WasmatrixError(
          ErrorCode.INVALID_REQUEST,
          `cannot preopen '${preopen.hostPath}': ${(error as Error).message}; give an existing directory`,
          { hostPath: preopen.hostPath },
        );
      }
      const mount: Mount = { root, readOnly: preopen.readOnly === true };
      mounts.push(mount);
      this.table.set(fd++, {
        kind: "dir",
        mount,
        path: [],
        preopenName: preopen.guestPath,
        rightsBase: mount.readOnly ? DIR_RIGHTS & ~DIR_WRITE_RIGHTS : DIR_RIGHTS,
        rightsInheriting: mount.readOnly ? INHERITABLE & ~(DIR_WRITE_RIGHTS | WRITE_RIGHTS) : INHERITABLE,
      });
    }
    this.usage = new QuotaUsage(
      quota,
      mounts.filter((m) => !m.readOnly).map((m) => m.root),
    );
  }

  get(fd: number): Descriptor | undefined {
    return this.table.get(fd >>> 0);
  }

  /** Runs a call, turning a thrown Errno or host error into the errno it returns. */
  private guard(call: () => number): number {
    try {
      return call();
    } catch (error) {
      if (error instanceof Errno) return error.errno;
      if (error instanceof MemoryFault) throw error;
      return errnoOf(error);
    }
  }

  private dir(fd: number): DirEntry {
    const entry = this.table.get(fd >>> 0);
    if (entry === undefined) throw new Errno(WasiErrno.BADF);
    if (entry.kind !== "dir") throw new Errno(WasiErrno.NOTDIR);
    return entry;
  }

  private file(fd: number): FileEntry {
    const entry = this.table.get(fd >>> 0);
    if (entry === undefined) throw new Errno(WasiErrno.BADF);
    if (entry.kind === "dir") throw new Errno(WasiErrno.ISDIR);
    if (entry.kind !== "file") throw new Errno(WasiErrno.SPIPE);
    return entry;
  }

  private string(ptr: number, len: number): string {
    this.memory.refresh().check(ptr >>> 0, len >>> 0);
    if (len >>> 0 > MAX_PATH_BYTES) throw new Errno(WasiErrno.NAMETOOLONG);
    try {
      return decoder.decode(this.memory.view8(ptr >>> 0, len >>> 0));
    } catch {
      throw new Errno(WasiErrno.ILSEQ);
    }
  }

  private resolve(dir: DirEntry, path: string, follow: boolean): Resolved {
    const result = resolvePath(dir.mount.root, dir.path, path, follow);
    if (!result.ok) throw new Errno(result.errno);
    return result.value;
  }

  private writable(mount: Mount): void {
    if (mount.readOnly) throw new Errno(WasiErrno.PERM);
  }

  private allocateFd(entry: Descriptor): number {
    if (this.table.size >= this.maxOpen) throw new Errno(WasiErrno.MFILE);
    let fd = 3;
    while (this.table.has(fd)) fd++;
    this.table.set(fd, entry);
    return fd;
  }

  private createEntry(): void {
    if (!this.usage.canCreate()) throw new Errno(WasiErrno.DQUOT);
  }

  /** Forget an entry about to be unlinked or replaced: its inode, and its bytes if it was the last link. */
  private forget(stat: BigIntStats | null): void {
    if (stat === null) return;
    this.usage.inodes = Math.max(0, this.usage.inodes - 1);
    if (stat.isFile() && stat.nlink <= 1n)
      this.usage.bytes = Math.max(0, this.usage.bytes - Number(stat.size));
  }

  // ---- descriptors ----

  /** Closes every host descriptor; the instance is going away. */
  closeAll(): void {
    for (const entry of this.table.values()) {
      if (entry.kind === "file") {
        try {
          closeSync(entry.hostFd);
        } catch {
          // Already gone: nothing to release.
        }
      }
    }
    this.table.clear();
  }

  closeFile(fd: number): number {
    const entry = this.table.get(fd >>> 0);
    if (entry === undefined) return WasiErrno.BADF;
    this.table.delete(fd >>> 0);
    if (entry.kind === "file") {
      try {
        closeSync(entry.hostFd);
      } catch (error) {
        return errnoOf(error);
      }
    }
    return WasiErrno.SUCCESS;
  }

  renumber(from: number, to: number): number {
    const source = this.table.get(from >>> 0);
    const target = this.table.get(to >>> 0);
    if (source === undefined || target === undefined) return WasiErrno.BADF;
    if (from >>> 0 === to >>> 0) return WasiErrno.SUCCESS;
    this.closeFile(to);
    this.table.delete(from >>> 0);
    this.table.set(to >>> 0, source);
    return WasiErrno.SUCCESS;
  }

  prestatGet(fd: number, ptr: number): number {
    const entry = this.table.get(fd >>> 0);
    if (entry === undefined || entry.kind !== "dir" || entry.preopenName === null) return WasiErrno.BADF;
    const name = encoder.encode(entry.preopenName);
    this.memory.refresh().check(ptr >>> 0, PRESTAT_BYTES);
    this.memory.view8(ptr >>> 0, PRESTAT_BYTES).fill(0);
    this.memory.setU32((ptr >>> 0) + 4, name.byteLength);
    return WasiErrno.SUCCESS;
  }

  prestatDirName(fd: number, ptr: number, len: number): number {
    const entry = this.table.get(fd >>> 0);
    if (entry === undefined || entry.kind !== "dir" || entry.preopenName === null) return WasiErrno.BADF;
    const name = encoder.encode(entry.preopenName);
    if (len >>> 0 < name.byteLength) return WasiErrno.NAMETOOLONG;
    this.memory
      .refresh()
      .view8(ptr >>> 0, name.byteLength)
      .set(name);
    return WasiErrno.SUCCESS;
  }

  fdstatGet(fd: number, ptr: number): number {
    return this.guard(() => {
      const entry = this.table.get(fd >>> 0);
      if (entry === undefined || entry.kind === "stdio") return WasiErrno.BADF;
      const at = ptr >>> 0;
      this.memory.refresh().view8(at, FDSTAT_BYTES).fill(0);
      if (entry.kind === "dir") {
        this.memory.setU8(at, FileType.DIRECTORY);
      } else {
        this.memory.setU8(at, fileType(fstatSync(entry.hostFd, { bigint: true })));
        this.memory.setU16(at + 2, entry.flags);
      }
      this.memory.setU64(at + 8, entry.rightsBase);
      this.memory.setU64(at + 16, entry.rightsInheriting);
      return WasiErrno.SUCCESS;
    });
  }

  fdstatSetFlags(fd: number, flags: number): number {
    return this.guard(() => {
      const entry = this.table.get(fd >>> 0);
      if (entry === undefined) return WasiErrno.BADF;
      if (entry.kind === "dir") return WasiErrno.SUCCESS;
      if (entry.kind !== "file") return WasiErrno.BADF;
      // Only APPEND and NONBLOCK can change after open, as with fcntl(F_SETFL).
      if ((flags & ~(FdFlags.APPEND | FdFlags.NONBLOCK)) !== 0) return WasiErrno.INVAL;
      entry.flags = (entry.flags & ~(FdFlags.APPEND | FdFlags.NONBLOCK)) | flags;
      return WasiErrno.SUCCESS;
    });
  }

  filestatGet(fd: number, ptr: number): number {
    return this.guard(() => {
      const entry = this.table.get(fd >>> 0);
      if (entry === undefined || entry.kind === "stdio") return WasiErrno.BADF;
      const stat =
        entry.kind === "file"
          ? fstatSync(entry.hostFd, { bigint: true })
          : statSync(hostPath(entry.mount.root, entry.path), { bigint: true });
      this.writeFilestat(ptr >>> 0, stat);
      return WasiErrno.SUCCESS;
    });
  }

  private writeFilestat(at: number, stat: BigIntStats): void {
    const m = this.memory.refresh();
    m.check(at, 64);
    m.setU64(at, stat.dev);
    m.setU64(at + 8, stat.ino);
    m.view8(at + 16, 8).fill(0);
    m.setU8(at + 16, fileType(stat));
    m.setU64(at + 24, stat.nlink);
    m.setU64(at + 32, stat.size);
    m.setU64(at + 40, stat.atimeNs);
    m.setU64(at + 48, stat.mtimeNs);
    m.setU64(at + 56, stat.ctimeNs);
  }

  filestatSetSize(fd: number, size: bigint): number {
    return this.guard(() => {
      const entry = this.file(fd);
      if (!entry.writable) return WasiErrno.BADF;
      const current = fstatSync(entry.hostFd, { bigint: true }).size;
      if (size > current && Number(size - current) > this.usage.bytesLeft()) return WasiErrno.DQUOT;
      ftruncateSync(entry.hostFd, Number(size));
      this.usage.bytes = Math.max(0, this.usage.bytes + Number(size - current));
      return WasiErrno.SUCCESS;
    });
  }

  allocate(fd: number, offset: bigint, len: bigint): number {
    return this.guard(() => {
      const entry = this.file(fd);
      if (!entry.writable) return WasiErrno.BADF;
      const end = offset + len;
      const current = fstatSync(entry.hostFd, { bigint: true }).size;
      if (end <= current) return WasiErrno.SUCCESS;
      if (Number(end - current) > this.usage.bytesLeft()) return WasiErrno.DQUOT;
      ftruncateSync(entry.hostFd, Number(end));
      this.usage.bytes += Number(end - current);
      return WasiErrno.SUCCESS;
    });
  }

  advise(fd: number, advice: number): number {
    return this.guard(() => {
      this.file(fd);
      // Advice is a hint the host may ignore; only its value is checked.
      return advice >>> 0 <= 5 ? WasiErrno.SUCCESS : WasiErrno.INVAL;
    });
  }

  sync(fd: number, dataOnly: boolean): number {
    return this.guard(() => {
      const entry = this.table.get(fd >>> 0);
      if (entry === undefined) return WasiErrno.BADF;
      if (entry.kind === "dir") return WasiErrno.SUCCESS;
      if (entry.kind !== "file") return WasiErrno.INVAL;
      (dataOnly ? fdatasyncSync : fsyncSync)(entry.hostFd);
      return WasiErrno.SUCCESS;
    });
  }

  filestatSetTimes(fd: number, atim: bigint, mtim: bigint, flags: number): number {
    return this.guard(() => {
      const entry = this.table.get(fd >>> 0);
      if (entry === undefined || entry.kind === "stdio") return WasiErrno.BADF;
      if (entry.kind === "dir") {
        this.writable(entry.mount);
        const path = hostPath(entry.mount.root, entry.path);
        const [a, m] = times(statSync(path, { bigint: true }), atim, mtim, flags);
        utimesSync(path, a, m);
      } else {
        this.writable(entry.mount);
        const [a, m] = times(fstatSync(entry.hostFd, { bigint: true }), atim, mtim, flags);
        futimesSync(entry.hostFd, a, m);
      }
      return WasiErrno.SUCCESS;
    });
  }

  // ---- reading and writing files ----

  read(fd: number, iovsPtr: number, iovsLen: number, at: bigint | null, nreadPtr: number): number {
    return this.guard(() => {
      const entry = this.file(fd);
      if (!entry.readable) return WasiErrno.BADF;
      const m = this.memory.refresh();
      m.check(nreadPtr >>> 0, 4);
      let position = at ?? entry.position;
      let total = 0;
      for (const { ptr, len } of readIovecs(m, iovsPtr >>> 0, iovsLen >>> 0)) {
        if (len === 0) continue;
        const n = readSync(entry.hostFd, m.bytes, ptr, len, position);
        total += n;
        position += BigInt(n);
        if (n < len) break;
      }
      if (at === null) entry.position = position;
      m.setU32(nreadPtr >>> 0, total);
      return WasiErrno.SUCCESS;
    });
  }

  write(fd: number, iovsPtr: number, iovsLen: number, at: bigint | null, nwrittenPtr: number): number {
    return this.guard(() => {
      const entry = this.file(fd);
      if (!entry.writable) return WasiErrno.BADF;
      const m = this.memory.refresh();
      m.check(nwrittenPtr >>> 0, 4);
      const list = readIovecs(m, iovsPtr >>> 0, iovsLen >>> 0);
      const size = fstatSync(entry.hostFd, { bigint: true }).size;
      // pwrite writes where it is told even on an append descriptor, as POSIX says.
      let position = at ?? ((entry.flags & FdFlags.APPEND) !== 0 ? size : entry.position);
      let wanted = 0;
      for (const { len } of list) wanted += len;
      wanted = Math.min(wanted, MAX_IO_BYTES);
      const fitting = Math.max(0, Number(size - position)) + this.usage.bytesLeft();
      const allowed = Math.min(wanted, fitting);
      if (wanted > 0 && allowed === 0) return WasiErrno.DQUOT;
      let total = 0;
      for (const { ptr, len } of list) {
        const take = Math.min(len, allowed - total);
        if (take <= 0) break;
        const n = writeSync(entry.hostFd, m.bytes, ptr, take, Number(position));
        total += n;
        position += BigInt(n);
        if (n < take) break;
      }
      if (position > size) this.usage.bytes += Number(position - size);
      if (at === null) entry.position = position;
      m.setU32(nwrittenPtr >>> 0, total);
      return WasiErrno.SUCCESS;
    });
  }

  seek(fd: number, offset: bigint, whence: number, newOffsetPtr: number): number {
    return this.guard(() => {
      const entry = this.file(fd);
      this.memory.refresh().check(newOffsetPtr >>> 0, 8);
      let base: bigint;
      switch (whence >>> 0) {
        case Whence.SET:
          base = 0n;
          break;
        case Whence.CUR:
          base = entry.position;
          break;
        case Whence.END:
          base = fstatSync(entry.hostFd, { bigint: true }).size;
          break;
        default:
          return WasiErrno.INVAL;
      }
      const next = base + offset;
      if (next < 0n) return WasiErrno.INVAL;
      entry.position = next;
      this.memory.setU64(newOffsetPtr >>> 0, next);
      return WasiErrno.SUCCESS;
    });
  }

  tell(fd: number, offsetPtr: number): number {
    return this.guard(() => {
      const entry = this.file(fd);
      this.memory.refresh().setU64(offsetPtr >>> 0, entry.position);
      return WasiErrno.SUCCESS;
    });
  }

  /** Bytes left to read, for poll_oneoff. */
  readable(fd: number): bigint | null {
    const entry = this.table.get(fd >>> 0);
    if (entry?.kind !== "file") return null;
    try {
      const size = fstatSync(entry.hostFd, { bigint: true }).size;
      return size > entry.position ? size - entry.position : 0n;
    } catch {
      return null;
    }
  }

  readdir(fd: number, bufPtr: number, bufLen: number, cookie: bigint, usedPtr: number): number {
    return this.guard(() => {
      const entry = this.table.get(fd >>> 0);
      if (entry === undefined) return WasiErrno.BADF;
      if (entry.kind !== "dir") return WasiErrno.NOTDIR;
      const m = this.memory.refresh();
      const buf = bufPtr >>> 0;
      const cap = bufLen >>> 0;
      m.check(buf, cap);
      m.check(usedPtr >>> 0, 4);
      const dirPath = hostPath(entry.mount.root, entry.path);
      // "." and ".." first, as wasmtime lists them; the rest in a stable (sorted) order so that
      // a cookie means the same entry on the next call.
      const names = [".", "..", ...readdirSync(dirPath).sort()];
      const out = new Uint8Array(cap);
      let used = 0;
      for (let index = Number(cookie); index < names.length && used < cap; index++) {
        const name = names[index]!;
        let stat: BigIntStats;
        try {
          stat =
            name === ".."
              ? statSync(
                  entry.path.length === 0 ? dirPath : hostPath(entry.mount.root, entry.path.slice(0, -1)),
                  {
                    bigint: true,
                  },
                )
              : lstatSync(name === "." ? dirPath : `${dirPath}/${name}`, { bigint: true });
        } catch {
          continue; // Removed since the listing: skip it, as a host readdir would.
        }
        const nameBytes = encoder.encode(name);
        const header = new DataView(new ArrayBuffer(DIRENT_BYTES));
        header.setBigUint64(0, BigInt(index + 1), true);
        header.setBigUint64(8, stat.ino, true);
        header.setUint32(16, nameBytes.byteLength, true);
        header.setUint8(20, fileType(stat));
        const record = new Uint8Array(DIRENT_BYTES + nameBytes.byteLength);
        record.set(new Uint8Array(header.buffer), 0);
        record.set(nameBytes, DIRENT_BYTES);
        // A record that does not fit is cut short: libc sees the buffer full and asks again.
        const take = Math.min(record.byteLength, cap - used);
        out.set(record.subarray(0, take), used);
        used += take;
      }
      m.view8(buf, used).set(out.subarray(0, used));
      m.setU32(usedPtr >>> 0, used);
      return WasiErrno.SUCCESS;
    });
  }

  // ---- paths ----

  pathOpen(
    dirFd: number,
    lookupFlags: number,
    pathPtr: number,
    pathLen: number,
    oflags: number,
    rightsBase: bigint,
    rightsInheriting: bigint,
    fdflags: number,
    fdPtr: number,
  ): number {
    return this.guard(() => {
      const dir = this.dir(dirFd);
      const path = this.string(pathPtr, pathLen);
      this.memory.check(fdPtr >>> 0, 4);
      const creat = (oflags & OFlags.CREAT) !== 0;
      const excl = (oflags & OFlags.EXCL) !== 0;
      const trunc = (oflags & OFlags.TRUNC) !== 0;
      const wantDir = (oflags & OFlags.DIRECTORY) !== 0;
      // O_CREAT|O_EXCL never follows a final symlink: it fails with EXIST instead.
      const follow = (lookupFlags & LOOKUP_SYMLINK_FOLLOW) !== 0 && !(creat && excl);
      const resolved = this.resolve(dir, path, follow);
      const base = BigInt.asUintN(64, rightsBase);
      const wantsWrite = (base & WRITE_RIGHTS) !== 0n || trunc || (fdflags & FdFlags.APPEND) !== 0;
      const wantsRead = (base & (Rights.FD_READ | Rights.FD_READDIR)) !== 0n;
      const stat = resolved.stat;
      if (stat === null) {
        if (!creat) return WasiErrno.NOENT;
        if (wantDir || resolved.mustBeDir) return WasiErrno.ISDIR;
        this.writable(dir.mount);
        this.createEntry();
      } else {
        if (creat && excl) return WasiErrno.EXIST;
        if (stat.isSymbolicLink()) return wantDir ? WasiErrno.NOTDIR : WasiErrno.LOOP;
        if (stat.isDirectory()) {
          if (wantsWrite && (base & Rights.FD_WRITE) !== 0n) return WasiErrno.ISDIR;
          if (trunc || creat) return WasiErrno.ISDIR;
          const entry: DirEntry = {
            kind: "dir",
            mount: dir.mount,
            path: resolved.name === null ? [...resolved.dir] : [...resolved.dir, resolved.name],
            preopenName: null,
            rightsBase: base & dir.rightsInheriting & DIR_RIGHTS,
            rightsInheriting: BigInt.asUintN(64, rightsInheriting) & dir.rightsInheriting,
          };
          this.memory.setU32(fdPtr >>> 0, this.allocateFd(entry));
          return WasiErrno.SUCCESS;
        }
        if (wantDir) return WasiErrno.NOTDIR;
        if (wantsWrite) this.writable(dir.mount);
      }
      if (resolved.name === null) return WasiErrno.ISDIR;
      if (this.table.size >= this.maxOpen) return WasiErrno.MFILE;
      const access =
        wantsWrite && wantsRead ? constants.O_RDWR : wantsWrite ? constants.O_WRONLY : constants.O_RDONLY;
      let flags = access | constants.O_NOFOLLOW;
      if (creat) flags |= constants.O_CREAT;
      if (excl) flags |= constants.O_EXCL;
      if (trunc) flags |= constants.O_TRUNC;
      if ((fdflags & FdFlags.SYNC) !== 0) flags |= constants.O_SYNC;
      if ((fdflags & FdFlags.DSYNC) !== 0) flags |= constants.O_DSYNC;
      const target = resolvedHostPath(dir.mount.root, resolved);
      const hostFd = openSync(target, flags, 0o644);
      if (stat === null) this.usage.inodes++;
      else if (trunc && stat.isFile()) this.usage.bytes = Math.max(0, this.usage.bytes - Number(stat.size));
      const entry: FileEntry = {
        kind: "file",
        mount: dir.mount,
        hostFd,
        readable: wantsRead || !wantsWrite,
        writable: wantsWrite,
        position: 0n,
        flags: fdflags & (FdFlags.APPEND | FdFlags.NONBLOCK | FdFlags.SYNC | FdFlags.DSYNC | FdFlags.RSYNC),
        rightsBase: base & dir.rightsInheriting & FILE_RIGHTS,
        rightsInheriting: BigInt.asUintN(64, rightsInheriting) & dir.rightsInheriting,
      };
      try {
        this.memory.setU32(fdPtr >>> 0, this.allocateFd(entry));
      } catch (error) {
        closeSync(hostFd);
        throw error;
      }
      return WasiErrno.SUCCESS;
    });
  }

  createDirectory(fd: number, pathPtr: number, pathLen: number): number {
    return this.guard(() => {
      const dir = this.dir(fd);
      const resolved = this.resolve(dir, this.string(pathPtr, pathLen), false);
      if (resolved.stat !== null) return WasiErrno.EXIST;
      this.writable(dir.mount);
      this.createEntry();
      mkdirSync(resolvedHostPath(dir.mount.root, resolved));
      this.usage.inodes++;
      return WasiErrno.SUCCESS;
    });
  }

  removeDirectory(fd: number, pathPtr: number, pathLen: number): number {
    return this.guard(() => {
      const dir = this.dir(fd);
      const resolved = this.resolve(dir, this.string(pathPtr, pathLen), false);
      if (resolved.stat === null) return WasiErrno.NOENT;
      // ".", ".." or the preopen itself: rmdir(".") is EINVAL.
      if (resolved.name === null) return WasiErrno.INVAL;
      if (!resolved.stat.isDirectory()) return WasiErrno.NOTDIR;
      this.writable(dir.mount);
      rmdirSync(resolvedHostPath(dir.mount.root, resolved));
      this.forget(resolved.stat);
      return WasiErrno.SUCCESS;
    });
  }

  unlinkFile(fd: number, pathPtr: number, pathLen: number): number {
    return this.guard(() => {
      const dir = this.dir(fd);
      const resolved = this.resolve(dir, this.string(pathPtr, pathLen), false);
      if (resolved.stat === null) return WasiErrno.NOENT;
      // Linux says EISDIR for unlink on a directory; wasmtime reports the same everywhere.
      if (resolved.name === null || resolved.stat.isDirectory()) return WasiErrno.ISDIR;
      if (resolved.mustBeDir) return WasiErrno.NOTDIR;
      this.writable(dir.mount);
      unlinkSync(resolvedHostPath(dir.mount.root, resolved));
      this.forget(resolved.stat);
      return WasiErrno.SUCCESS;
    });
  }

  rename(
    oldFd: number,
    oldPtr: number,
    oldLen: number,
    newFd: number,
    newPtr: number,
    newLen: number,
  ): number {
    return this.guard(() => {
      const fromDir = this.dir(oldFd);
      const toDir = this.dir(newFd);
      const from = this.resolve(fromDir, this.string(oldPtr, oldLen), false);
      const to = this.resolve(toDir, this.string(newPtr, newLen), false);
      if (from.stat === null) return WasiErrno.NOENT;
      if (from.name === null || to.name === null) return WasiErrno.BUSY;
      if (fromDir.mount !== toDir.mount) return WasiErrno.XDEV;
      if (!from.stat.isDirectory() && (from.mustBeDir || to.mustBeDir)) return WasiErrno.NOTDIR;
      this.writable(fromDir.mount);
      renameSync(resolvedHostPath(fromDir.mount.root, from), resolvedHostPath(toDir.mount.root, to));
      if (to.stat !== null && to.stat.ino !== from.stat.ino) this.forget(to.stat);
      return WasiErrno.SUCCESS;
    });
  }

  symlink(oldPtr: number, oldLen: number, fd: number, newPtr: number, newLen: number): number {
    return this.guard(() => {
      const target = this.string(oldPtr, oldLen);
      const dir = this.dir(fd);
      if (target.includes("\0")) return WasiErrno.INVAL;
      // A link to an absolute path could never be followed here; wasmtime refuses to make one.
      if (target.startsWith("/")) return WasiErrno.PERM;
      const resolved = this.resolve(dir, this.string(newPtr, newLen), false);
      if (resolved.stat !== null || resolved.name === null) return WasiErrno.EXIST;
      if (resolved.mustBeDir) return WasiErrno.NOENT;
      this.writable(dir.mount);
      this.createEntry();
      symlinkSync(target, resolvedHostPath(dir.mount.root, resolved));
      this.usage.inodes++;
      return WasiErrno.SUCCESS;
    });
  }

  readlink(
    fd: number,
    pathPtr: number,
    pathLen: number,
    bufPtr: number,
    bufLen: number,
    usedPtr: number,
  ): number {
    return this.guard(() => {
      const dir = this.dir(fd);
      const resolved = this.resolve(dir, this.string(pathPtr, pathLen), false);
      if (resolved.stat === null) return WasiErrno.NOENT;
      if (!resolved.stat.isSymbolicLink()) return WasiErrno.INVAL;
      const m = this.memory.refresh();
      m.check(bufPtr >>> 0, bufLen >>> 0);
      m.check(usedPtr >>> 0, 4);
      const target = readlinkSync(resolvedHostPath(dir.mount.root, resolved), { encoding: "buffer" });
      // Truncated to the buffer, as readlink(2) does.
      const take = Math.min(target.byteLength, bufLen >>> 0);
      m.view8(bufPtr >>> 0, take).set(target.subarray(0, take));
      m.setU32(usedPtr >>> 0, take);
      return WasiErrno.SUCCESS;
    });
  }

  link(
    oldFd: number,
    oldFlags: number,
    oldPtr: number,
    oldLen: number,
    newFd: number,
    newPtr: number,
    newLen: number,
  ): number {
    return this.guard(() => {
      const fromDir = this.dir(oldFd);
      const toDir = this.dir(newFd);
      const from = this.resolve(
        fromDir,
        this.string(oldPtr, oldLen),
        (oldFlags & LOOKUP_SYMLINK_FOLLOW) !== 0,
      );
      const to = this.resolve(toDir, this.string(newPtr, newLen), false);
      if (from.stat === null) return WasiErrno.NOENT;
      if (from.stat.isDirectory()) return WasiErrno.PERM;
      if (to.stat !== null || to.name === null) return WasiErrno.EXIST;
      if (from.mustBeDir || to.mustBeDir) return WasiErrno.NOTDIR;
      if (fromDir.mount !== toDir.mount) return WasiErrno.XDEV;
      this.writable(toDir.mount);
      this.createEntry();
      linkSync(resolvedHostPath(fromDir.mount.root, from), resolvedHostPath(toDir.mount.root, to));
      this.usage.inodes++;
      return WasiErrno.SUCCESS;
    });
  }

  pathFilestatGet(fd: number, flags: number, pathPtr: number, pathLen: number, bufPtr: number): number {
    return this.guard(() => {
      const dir = this.dir(fd);
      const resolved = this.resolve(
        dir,
        this.string(pathPtr, pathLen),
        (flags & LOOKUP_SYMLINK_FOLLOW) !== 0,
      );
      if (resolved.stat === null) return WasiErrno.NOENT;
      this.writeFilestat(bufPtr >>> 0, resolved.stat);
      return WasiErrno.SUCCESS;
    });
  }

  pathFilestatSetTimes(
    fd: number,
    flags: number,
    pathPtr: number,
    pathLen: number,
    atim: bigint,
    mtim: bigint,
    fstFlags: number,
  ): number {
    return this.guard(() => {
      const dir = this.dir(fd);
      const resolved = this.resolve(
        dir,
        this.string(pathPtr, pathLen),
        (flags & LOOKUP_SYMLINK_FOLLOW) !== 0,
      );
      if (resolved.stat === null) return WasiErrno.NOENT;
      this.writable(dir.mount);
      const [a, m] = times(resolved.stat, atim, mtim, fstFlags);
      lutimesSync(resolvedHostPath(dir.mount.root, resolved), a, m);
      return WasiErrno.SUCCESS;
    });
  }
}

/** The (atime, mtime) in seconds that `fstflags` ask for, keeping what they leave alone. */
function times(stat: BigIntStats, atim: bigint, mtim: bigint, flags: number): [number, number] {
  const f = flags >>> 0;
  if ((f & FstFlags.ATIM && f & FstFlags.ATIM_NOW) || (f & FstFlags.MTIM && f & FstFlags.MTIM_NOW)) {
    throw new Errno(WasiErrno.INVAL);
  }
  if ((f & ~0xf) !== 0) throw new Errno(WasiErrno.INVAL);
  const now = Date.now() / 1000;
  const seconds = (ns: bigint) => Number(ns) / 1e9;
  const a =
    f & FstFlags.ATIM_NOW
      ? now
      : f & FstFlags.ATIM
        ? seconds(BigInt.asUintN(64, atim))
        : seconds(stat.atimeNs);
  const m =
    f & FstFlags.MTIM_NOW
      ? now
      : f & FstFlags.MTIM
        ? seconds(BigInt.asUintN(64, mtim))
        : seconds(stat.mtimeNs);
  return [a, m];
}

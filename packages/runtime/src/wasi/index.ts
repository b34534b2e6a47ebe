import type { OutputSink } from "../output/index.js";
import { blockingSleep, CLOCK_RESOLUTION_NS, ClockId, createRealtimeClock, monotonicNow } from "./clocks.js";
import { WasiErrno } from "./errno.js";
import { type Preopen, readIovecs, WasiFilesystem } from "./fs.js";
import { GuestMemory, MemoryFault } from "./memory.js";
import { EVENT_FD_READWRITE_HANGUP, EventType, type PollEvent, pollOneoff } from "./poll.js";
import { PREVIEW1_FUNCTIONS, type Preview1Function } from "./preview1.js";
import type { FilesystemQuota } from "./quota.js";
import { StringTable, validateArgsAndEnv } from "./strings.js";

export { ClockId } from "./clocks.js";
export { WasiErrno } from "./errno.js";
export type { Preopen } from "./fs.js";
export { PREVIEW1_FUNCTIONS, type Preview1Function, WASI_MODULE } from "./preview1.js";
export type { FilesystemQuota } from "./quota.js";

/**
 * Most bytes one `fd_write` takes. Beyond it the write is short, which libc and Rust's `write_all`
 * loop over; the cap bounds the copy a single call can force, whatever iovecs the guest forges.
 */
export const MAX_WRITE_BYTES_PER_CALL = 16 * 1024 * 1024;

/** `crypto.getRandomValues` refuses more than this per call. */
const RANDOM_CHUNK_BYTES = 65_536;

const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const FILETYPE_CHARACTER_DEVICE = 2;
/**
 * Every right, seek and tell included. wasi-libc's `isatty` answers yes only for a character
 * device without those two, so stdio reads as "not a terminal": guests do not emit colour codes
 * into captured logs, as with `docker run` without `-t`. (C stdout is then fully buffered.)
 */
const RIGHTS_ALL = (1n << 30n) - 1n;
const FDSTAT_BYTES = 24;
const FILESTAT_BYTES = 64;

/** Thrown by `proc_exit`; the host catches it to end the run with `code`. */
export class WasiExit extends Error {
  constructor(readonly code: number) {
    super(`guest exited with code ${code}`);
    this.name = "WasiExit";
  }
}

export interface WasiOptions {
  /** `argv`, conventionally starting with the program name. No NUL characters. */
  args: string[];
  /** Names non-empty without `=` or NUL; values without NUL. */
  env: Record<string, string>;
  /** Receives each `fd_write` to fd 1 as a copy the sink may keep. */
  stdout: OutputSink;
  /** Receives each `fd_write` to fd 2 as a copy the sink may keep. */
  stderr: OutputSink;
  /** What fd 0 reads before end of file. @default empty */
  stdin?: Uint8Array;
  /** Called by every call that touches memory: the guest may grow or replace it between calls. */
  getMemory(): WebAssembly.Memory;
  /** Realtime clock in ns since the Unix epoch. @default `Date.now()` refined by `performance.now()` */
  now?: () => bigint;
  /** Monotonic clock in ns, also serving the CPU-time clocks. @default `process.hrtime.bigint()` */
  monotonic?: () => bigint;
  /** Fills a buffer with random bytes, of any length. @default `crypto.getRandomValues` */
  randomFill?: (buf: Uint8Array) => void;
  /** Blocks for `ns` nanoseconds, for `poll_oneoff` clocks. It may throw to stop the guest. @default `Atomics.wait` */
  sleep?: (ns: bigint) => void;
  /** Called by `sched_yield`, where a host can check its deadline. It may throw to stop the guest. */
  onYield?: () => void;
  /** Host directories the guest sees, as fds 3, 4, … in this order. @default none */
  preopens?: readonly Preopen[];
  /** Limits on bytes, entries and open descriptors under the preopens. @default descriptors only */
  quota?: FilesystemQuota;
}

// biome-ignore lint/suspicious/noExplicitAny: each import has its own signature, which Wasm checks at link time.
export type WasiFunction = (...args: any[]) => number | undefined;

export interface Wasi {
  /** Every `wasi_snapshot_preview1` function, so that no WASI module fails to link. */
  imports: Record<Preview1Function, WasiFunction>;
  /** Closes the host descriptors the guest left open. */
  close(): void;
}

/**
 * WASI preview1 for one instance: args, environment, clocks, random, stdio captured into sinks,
 * sleeping in `poll_oneoff`, and files below the preopened directories (see fs.ts and path.ts).
 * There is no network: the sock_* calls answer BADF or NOTSOCK, as wasmtime's do.
 *
 * node:wasi does not fit: it needs real file descriptors, and cannot tell apart the output of the
 * many instances one worker hosts.
 *
 * Guest-supplied pointers and lengths are bounds-checked against the current memory; a bad one
 * makes the call return FAULT and leaves memory and output untouched. Clocks and random make a
 * guest nondeterministic; inject `now`, `monotonic` and `randomFill` to replay one.
 */
export function createWasi(options: WasiOptions): Wasi {
  validateArgsAndEnv(options.args, options.env);
  const args = new StringTable(options.args);
  const environ = new StringTable(Object.entries(options.env).map(([name, value]) => `${name}=${value}`));
  const memory = new GuestMemory(options.getMemory);
  const realtime = options.now ?? createRealtimeClock();
  const monotonic = options.monotonic ?? monotonicNow;
  const randomFill = options.randomFill ?? fillRandom;
  const sleep = options.sleep ?? blockingSleep;
  const stdin = options.stdin ?? new Uint8Array(0);
  let stdinOffset = 0;
  const fs = new WasiFilesystem(memory, options.preopens ?? [], options.quota ?? {});

  /** Which stdio stream `fd` is now (it may have been closed or renumbered), or null. */
  const stdio = (fd: number): 0 | 1 | 2 | null => {
    const entry = fs.get(fd);
    return entry?.kind === "stdio" ? entry.stream : null;
  };
  const isOpen = (fd: number): boolean => fs.get(fd) !== undefined;
  const sinkFor = (fd: number): OutputSink | undefined => {
    const stream = stdio(fd);
    return stream === STDOUT ? options.stdout : stream === STDERR ? options.stderr : undefined;
  };
  /** For calls that only files answer: stdio is a stream, so seeking it is SPIPE. */
  const onFile = (fd: number, call: () => number): number => (stdio(fd) !== null ? WasiErrno.SPIPE : call());

  const clock = (id: number): bigint | null => {
    switch (id) {
      case ClockId.REALTIME:
        return realtime();
      case ClockId.MONOTONIC:
      case ClockId.PROCESS_CPUTIME:
      case ClockId.THREAD_CPUTIME:
        return monotonic();
      default:
        return null;
    }
  };
  const isClock = (id: number): boolean => id >= ClockId.REALTIME && id <= ClockId.THREAD_CPUTIME;

  const iovecs = (iovsPtr: number, iovsLen: number) => readIovecs(memory, iovsPtr, iovsLen);

  const fdEvent = (
    type: typeof EventType.FD_READ | typeof EventType.FD_WRITE,
    fd: number,
    userdata: bigint,
  ) => {
    const event: PollEvent = { userdata, error: WasiErrno.SUCCESS, type };
    const fileLeft = fs.readable(fd);
    if (type === EventType.FD_READ && stdio(fd) === STDIN) {
      const left = stdin.byteLength - stdinOffset;
      event.nbytes = BigInt(left);
      event.flags = left === 0 ? EVENT_FD_READWRITE_HANGUP : 0;
    } else if (type === EventType.FD_WRITE && sinkFor(fd) !== undefined) {
      event.nbytes = BigInt(MAX_WRITE_BYTES_PER_CALL);
    } else if (fileLeft !== null) {
      // Regular files are always ready, as poll(2) says of them.
      event.nbytes = type === EventType.FD_READ ? fileLeft : 0n;
    } else {
      event.error = WasiErrno.BADF;
    }
    return event;
  };

  const calls = {
    args_get: (argvPtr: number, bufPtr: number) => {
      args.write(memory.refresh(), argvPtr >>> 0, bufPtr >>> 0);
      return WasiErrno.SUCCESS;
    },
    args_sizes_get: (countPtr: number, sizePtr: number) => {
      args.writeSizes(memory.refresh(), countPtr >>> 0, sizePtr >>> 0);
      return WasiErrno.SUCCESS;
    },
    environ_get: (environPtr: number, bufPtr: number) => {
      environ.write(memory.refresh(), environPtr >>> 0, bufPtr >>> 0);
      return WasiErrno.SUCCESS;
    },
    environ_sizes_get: (countPtr: number, sizePtr: number) => {
      environ.writeSizes(memory.refresh(), countPtr >>> 0, sizePtr >>> 0);
      return WasiErrno.SUCCESS;
    },

    clock_res_get: (id: number, resPtr: number) => {
      if (!isClock(id >>> 0)) return WasiErrno.INVAL;
      memory.refresh().setU64(resPtr >>> 0, CLOCK_RESOLUTION_NS);
      return WasiErrno.SUCCESS;
    },
    // The precision hint (an i64, so a BigInt) is ignored: every reading is as precise as we have.
    clock_time_get: (id: number, _precision: bigint, timePtr: number) => {
      memory.refresh().check(timePtr >>> 0, 8);
      const time = clock(id >>> 0);
      if (time === null) return WasiErrno.INVAL;
      memory.setU64(timePtr >>> 0, time);
      return WasiErrno.SUCCESS;
    },

    fd_advise: (fd: number, _offset: bigint, _len: bigint, advice: number) =>
      onFile(fd, () => fs.advise(fd, advice)),
    fd_allocate: (fd: number, offset: bigint, len: bigint) => onFile(fd, () => fs.allocate(fd, offset, len)),
    fd_close: (fd: number) => fs.closeFile(fd),
    // fsync on a pipe or terminal is EINVAL on Linux.
    fd_datasync: (fd: number) => (stdio(fd) !== null ? WasiErrno.INVAL : fs.sync(fd, true)),
    fd_sync: (fd: number) => (stdio(fd) !== null ? WasiErrno.INVAL : fs.sync(fd, false)),
    fd_fdstat_get: (fd: number, statPtr: number) => {
      if (stdio(fd) === null) return fs.fdstatGet(fd, statPtr);
      const ptr = statPtr >>> 0;
      memory.refresh().view8(ptr, FDSTAT_BYTES).fill(0);
      memory.setU8(ptr, FILETYPE_CHARACTER_DEVICE);
      memory.setU64(ptr + 8, RIGHTS_ALL);
      memory.setU64(ptr + 16, RIGHTS_ALL);
      return WasiErrno.SUCCESS;
    },
    // Accepted and ignored on stdio: it never blocks, so O_NONBLOCK and O_APPEND change nothing.
    fd_fdstat_set_flags: (fd: number, flags: number) =>
      stdio(fd) !== null ? WasiErrno.SUCCESS : fs.fdstatSetFlags(fd, flags),
    // wasmtime no longer narrows rights after open; neither do we.
    fd_fdstat_set_rights: (fd: number) => (isOpen(fd) ? WasiErrno.NOTSUP : WasiErrno.BADF),
    fd_filestat_get: (fd: number, statPtr: number) => {
      if (stdio(fd) === null) return fs.filestatGet(fd, statPtr);
      const ptr = statPtr >>> 0;
      memory.refresh().view8(ptr, FILESTAT_BYTES).fill(0);
      memory.setU8(ptr + 16, FILETYPE_CHARACTER_DEVICE);
      memory.setU64(ptr + 24, 1n);
      return WasiErrno.SUCCESS;
    },
    fd_filestat_set_size: (fd: number, size: bigint) =>
      stdio(fd) !== null ? WasiErrno.INVAL : fs.filestatSetSize(fd, size),
    fd_filestat_set_times: (fd: number, atim: bigint, mtim: bigint, flags: number) =>
      stdio(fd) !== null ? WasiErrno.NOTSUP : fs.filestatSetTimes(fd, atim, mtim, flags),
    fd_pread: (fd: number, iovsPtr: number, iovsLen: number, offset: bigint, nreadPtr: number) =>
      onFile(fd, () => fs.read(fd, iovsPtr, iovsLen, BigInt.asUintN(64, offset), nreadPtr)),
    fd_pwrite: (fd: number, iovsPtr: number, iovsLen: number, offset: bigint, nwrittenPtr: number) =>
      onFile(fd, () => fs.write(fd, iovsPtr, iovsLen, BigInt.asUintN(64, offset), nwrittenPtr)),
    // libc asks for fd 3, 4, … until BADF, and so learns every preopen.
    fd_prestat_get: (fd: number, ptr: number) => fs.prestatGet(fd, ptr),
    fd_prestat_dir_name: (fd: number, ptr: number, len: number) => fs.prestatDirName(fd, ptr, len),
    fd_read: (fd: number, iovsPtr: number, iovsLen: number, nreadPtr: number) => {
      const stream = stdio(fd);
      if (stream === null) return fs.read(fd, iovsPtr, iovsLen, null, nreadPtr);
      if (stream !== STDIN) return WasiErrno.BADF;
      memory.refresh().check(nreadPtr >>> 0, 4);
      let nread = 0;
      for (const { ptr, len } of iovecs(iovsPtr >>> 0, iovsLen >>> 0)) {
        const take = Math.min(len, stdin.byteLength - stdinOffset);
        memory.bytes.set(stdin.subarray(stdinOffset, stdinOffset + take), ptr);
        stdinOffset += take;
        nread += take;
        if (take < len) break;
      }
      memory.setU32(nreadPtr >>> 0, nread);
      return WasiErrno.SUCCESS;
    },
    fd_readdir: (fd: number, bufPtr: number, bufLen: number, cookie: bigint, usedPtr: number) =>
      stdio(fd) !== null
        ? WasiErrno.NOTDIR
        : fs.readdir(fd, bufPtr, bufLen, BigInt.asUintN(64, cookie), usedPtr),
    fd_renumber: (from: number, to: number) => fs.renumber(from, to),
    fd_seek: (fd: number, offset: bigint, whence: number, newOffsetPtr: number) =>
      onFile(fd, () => fs.seek(fd, offset, whence, newOffsetPtr)),
    fd_tell: (fd: number, offsetPtr: number) => onFile(fd, () => fs.tell(fd, offsetPtr)),
    fd_write: (fd: number, iovsPtr: number, iovsLen: number, nwrittenPtr: number) => {
      if (stdio(fd) === null) return fs.write(fd, iovsPtr, iovsLen, null, nwrittenPtr);
      const sink = sinkFor(fd >>> 0);
      if (sink === undefined) return WasiErrno.BADF;
      memory.refresh().check(nwrittenPtr >>> 0, 4);
      const list = iovecs(iovsPtr >>> 0, iovsLen >>> 0);
      let total = 0;
      for (const { len } of list) total += len;
      const out = new Uint8Array(Math.min(total, MAX_WRITE_BYTES_PER_CALL));
      let offset = 0;
      for (const { ptr, len } of list) {
        const take = Math.min(len, out.byteLength - offset);
        out.set(memory.bytes.subarray(ptr, ptr + take), offset);
        offset += take;
        if (offset === out.byteLength) break;
      }
      if (out.byteLength > 0) sink.write(out);
      memory.setU32(nwrittenPtr >>> 0, out.byteLength);
      return WasiErrno.SUCCESS;
    },

    path_create_directory: (fd: number, ptr: number, len: number) => fs.createDirectory(fd, ptr, len),
    path_filestat_get: (fd: number, flags: number, ptr: number, len: number, buf: number) =>
      fs.pathFilestatGet(fd, flags, ptr, len, buf),
    path_filestat_set_times: (
      fd: number,
      flags: number,
      ptr: number,
      len: number,
      atim: bigint,
      mtim: bigint,
      fstFlags: number,
    ) => fs.pathFilestatSetTimes(fd, flags, ptr, len, atim, mtim, fstFlags),
    path_link: (
      oldFd: number,
      oldFlags: number,
      oldPtr: number,
      oldLen: number,
      newFd: number,
      newPtr: number,
      newLen: number,
    ) => fs.link(oldFd, oldFlags, oldPtr, oldLen, newFd, newPtr, newLen),
    path_open: (
      fd: number,
      lookupFlags: number,
      ptr: number,
      len: number,
      oflags: number,
      rightsBase: bigint,
      rightsInheriting: bigint,
      fdflags: number,
      fdPtr: number,
    ) => fs.pathOpen(fd, lookupFlags, ptr, len, oflags, rightsBase, rightsInheriting, fdflags, fdPtr),
    path_readlink: (fd: number, ptr: number, len: number, buf: number, bufLen: number, usedPtr: number) =>
      fs.readlink(fd, ptr, len, buf, bufLen, usedPtr),
    path_remove_directory: (fd: number, ptr: number, len: number) => fs.removeDirectory(fd, ptr, len),
    path_rename: (
      fd: number,
      oldPtr: number,
      oldLen: number,
      newFd: number,
      newPtr: number,
      newLen: number,
    ) => fs.rename(fd, oldPtr, oldLen, newFd, newPtr, newLen),
    path_symlink: (oldPtr: number, oldLen: number, fd: number, newPtr: number, newLen: number) =>
      fs.symlink(oldPtr, oldLen, fd, newPtr, newLen),
    path_unlink_file: (fd: number, ptr: number, len: number) => fs.unlinkFile(fd, ptr, len),

    poll_oneoff: (inPtr: number, outPtr: number, count: number, neventsPtr: number) =>
      pollOneoff(memory.refresh(), inPtr >>> 0, outPtr >>> 0, count >>> 0, neventsPtr >>> 0, {
        now: clock,
        sleep,
        fdEvent,
      }),

    proc_exit: (code: number): never => {
      throw new WasiExit(code >>> 0);
    },
    proc_raise: () => WasiErrno.NOSYS,
    sched_yield: () => {
      options.onYield?.();
      return WasiErrno.SUCCESS;
    },
    random_get: (bufPtr: number, bufLen: number) => {
      randomFill(memory.refresh().view8(bufPtr >>> 0, bufLen >>> 0));
      return WasiErrno.SUCCESS;
    },

    // No descriptor is ever a socket: wasi-testsuite's sock_shutdown cases want NOTSOCK for an
    // open fd that is not one and BADF for a closed one, which is what wasmtime answers.
    sock_accept: (fd: number) => sockErrno(fd),
    sock_recv: (fd: number) => sockErrno(fd),
    sock_send: (fd: number) => sockErrno(fd),
    sock_shutdown: (fd: number) => sockErrno(fd),
  } satisfies Record<Preview1Function, WasiFunction>;

  function sockErrno(fd: number): number {
    return isOpen(fd) ? WasiErrno.NOTSOCK : WasiErrno.BADF;
  }

  const imports = {} as Record<Preview1Function, WasiFunction>;
  for (const name of PREVIEW1_FUNCTIONS) imports[name] = faultsAsErrno(calls[name]);
  return { imports, close: () => fs.closeAll() };
}

function faultsAsErrno(call: WasiFunction): WasiFunction {
  return (...params) => {
    try {
      return call(...params);
    } catch (error) {
      if (error instanceof MemoryFault) return WasiErrno.FAULT;
      throw error;
    }
  };
}

function fillRandom(buf: Uint8Array): void {
  for (let offset = 0; offset < buf.byteLength; offset += RANDOM_CHUNK_BYTES) {
    crypto.getRandomValues(buf.subarray(offset, offset + RANDOM_CHUNK_BYTES));
  }
}

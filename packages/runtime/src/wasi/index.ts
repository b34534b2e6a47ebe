import type { OutputSink } from "../output/index.js";
import { blockingSleep, CLOCK_RESOLUTION_NS, ClockId, createRealtimeClock, monotonicNow } from "./clocks.js";
import { WasiErrno } from "./errno.js";
import { GuestMemory, MemoryFault } from "./memory.js";
import { EVENT_FD_READWRITE_HANGUP, EventType, type PollEvent, pollOneoff } from "./poll.js";
import { PREVIEW1_FUNCTIONS, type Preview1Function } from "./preview1.js";
import { StringTable, validateArgsAndEnv } from "./strings.js";

export { ClockId } from "./clocks.js";
export { WasiErrno } from "./errno.js";
export { PREVIEW1_FUNCTIONS, type Preview1Function, WASI_MODULE } from "./preview1.js";

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
const IOVEC_BYTES = 8;
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
}

// biome-ignore lint/suspicious/noExplicitAny: each import has its own signature, which Wasm checks at link time.
export type WasiFunction = (...args: any[]) => number | undefined;

export interface Wasi {
  /** Every `wasi_snapshot_preview1` function, so that no WASI module fails to link. */
  imports: Record<Preview1Function, WasiFunction>;
}

/**
 * A WASI preview1 subset for one instance: args, environment, clocks, random, stdio captured into
 * sinks, and sleeping in `poll_oneoff`. There is no filesystem and no network: no directory is
 * preopened, so libc has nothing to resolve a path against and every file call fails, and
 * sockets answer NOSYS.
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
  // Only stdio exists, and a guest may close it.
  const open = [true, true, true];

  const isOpen = (fd: number): boolean => open[fd] === true;
  /** The errno a call needing a stream gets for `fd`: stdio cannot seek, anything else does not exist. */
  const pipeErrno = (fd: number): number => (isOpen(fd >>> 0) ? WasiErrno.SPIPE : WasiErrno.BADF);
  /** The errno a path call gets for its directory fd: no directory is ever open. */
  const dirErrno = (fd: number): number => (isOpen(fd >>> 0) ? WasiErrno.NOTDIR : WasiErrno.BADF);
  const sinkFor = (fd: number): OutputSink | undefined =>
    !isOpen(fd) ? undefined : fd === STDOUT ? options.stdout : fd === STDERR ? options.stderr : undefined;

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

  /** Reads the iovec array; every buffer is checked before the caller touches any. */
  const iovecs = (iovsPtr: number, iovsLen: number): { ptr: number; len: number }[] => {
    memory.check(iovsPtr, iovsLen * IOVEC_BYTES);
    const list: { ptr: number; len: number }[] = [];
    for (let i = 0; i < iovsLen; i++) {
      const ptr = memory.u32(iovsPtr + i * IOVEC_BYTES);
      const len = memory.u32(iovsPtr + i * IOVEC_BYTES + 4);
      memory.check(ptr, len);
      list.push({ ptr, len });
    }
    return list;
  };

  const fdEvent = (
    type: typeof EventType.FD_READ | typeof EventType.FD_WRITE,
    fd: number,
    userdata: bigint,
  ) => {
    const event: PollEvent = { userdata, error: WasiErrno.SUCCESS, type };
    if (type === EventType.FD_READ && fd === STDIN && isOpen(fd)) {
      const left = stdin.byteLength - stdinOffset;
      event.nbytes = BigInt(left);
      event.flags = left === 0 ? EVENT_FD_READWRITE_HANGUP : 0;
    } else if (type === EventType.FD_WRITE && sinkFor(fd) !== undefined) {
      event.nbytes = BigInt(MAX_WRITE_BYTES_PER_CALL);
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

    fd_advise: (fd: number) => pipeErrno(fd),
    fd_allocate: (fd: number) => pipeErrno(fd),
    fd_close: (fd: number) => {
      if (!isOpen(fd >>> 0)) return WasiErrno.BADF;
      open[fd >>> 0] = false;
      return WasiErrno.SUCCESS;
    },
    // fsync on a pipe or terminal is EINVAL on Linux.
    fd_datasync: (fd: number) => (isOpen(fd >>> 0) ? WasiErrno.INVAL : WasiErrno.BADF),
    fd_sync: (fd: number) => (isOpen(fd >>> 0) ? WasiErrno.INVAL : WasiErrno.BADF),
    fd_fdstat_get: (fd: number, statPtr: number) => {
      if (!isOpen(fd >>> 0)) return WasiErrno.BADF;
      const ptr = statPtr >>> 0;
      memory.refresh().view8(ptr, FDSTAT_BYTES).fill(0);
      memory.setU8(ptr, FILETYPE_CHARACTER_DEVICE);
      memory.setU64(ptr + 8, RIGHTS_ALL);
      memory.setU64(ptr + 16, RIGHTS_ALL);
      return WasiErrno.SUCCESS;
    },
    // Accepted and ignored: stdio never blocks, so O_NONBLOCK and O_APPEND change nothing.
    fd_fdstat_set_flags: (fd: number) => (isOpen(fd >>> 0) ? WasiErrno.SUCCESS : WasiErrno.BADF),
    fd_fdstat_set_rights: (fd: number) => (isOpen(fd >>> 0) ? WasiErrno.NOTSUP : WasiErrno.BADF),
    fd_filestat_get: (fd: number, statPtr: number) => {
      if (!isOpen(fd >>> 0)) return WasiErrno.BADF;
      const ptr = statPtr >>> 0;
      memory.refresh().view8(ptr, FILESTAT_BYTES).fill(0);
      memory.setU8(ptr + 16, FILETYPE_CHARACTER_DEVICE);
      memory.setU64(ptr + 24, 1n);
      return WasiErrno.SUCCESS;
    },
    fd_filestat_set_size: (fd: number) => (isOpen(fd >>> 0) ? WasiErrno.INVAL : WasiErrno.BADF),
    fd_filestat_set_times: (fd: number) => (isOpen(fd >>> 0) ? WasiErrno.NOTSUP : WasiErrno.BADF),
    fd_pread: (fd: number) => pipeErrno(fd),
    fd_pwrite: (fd: number) => pipeErrno(fd),
    // No preopens: libc asks for fd 3, 4, … until BADF, and so learns there is no filesystem.
    fd_prestat_get: () => WasiErrno.BADF,
    fd_prestat_dir_name: () => WasiErrno.BADF,
    fd_read: (fd: number, iovsPtr: number, iovsLen: number, nreadPtr: number) => {
      if (fd >>> 0 !== STDIN || !isOpen(STDIN)) return WasiErrno.BADF;
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
    fd_readdir: (fd: number) => (isOpen(fd >>> 0) ? WasiErrno.NOTDIR : WasiErrno.BADF),
    fd_renumber: (from: number, to: number) =>
      isOpen(from >>> 0) && isOpen(to >>> 0) ? WasiErrno.NOTSUP : WasiErrno.BADF,
    fd_seek: (fd: number) => pipeErrno(fd),
    fd_tell: (fd: number) => pipeErrno(fd),
    fd_write: (fd: number, iovsPtr: number, iovsLen: number, nwrittenPtr: number) => {
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

    path_create_directory: (fd: number) => dirErrno(fd),
    path_filestat_get: (fd: number) => dirErrno(fd),
    path_filestat_set_times: (fd: number) => dirErrno(fd),
    path_link: (oldFd: number) => dirErrno(oldFd),
    path_open: (fd: number) => dirErrno(fd),
    path_readlink: (fd: number) => dirErrno(fd),
    path_remove_directory: (fd: number) => dirErrno(fd),
    path_rename: (fd: number) => dirErrno(fd),
    path_symlink: (_oldPath: number, _oldPathLen: number, fd: number) => dirErrno(fd),
    path_unlink_file: (fd: number) => dirErrno(fd),

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

    sock_accept: () => WasiErrno.NOSYS,
    sock_recv: () => WasiErrno.NOSYS,
    sock_send: () => WasiErrno.NOSYS,
    sock_shutdown: () => WasiErrno.NOSYS,
  } satisfies Record<Preview1Function, WasiFunction>;

  const imports = {} as Record<Preview1Function, WasiFunction>;
  for (const name of PREVIEW1_FUNCTIONS) imports[name] = faultsAsErrno(calls[name]);
  return { imports };
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

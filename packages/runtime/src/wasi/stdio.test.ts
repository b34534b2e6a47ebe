import { describe, expect, it } from "vitest";
import { OutputRing } from "../output/index.js";
import { MAX_WRITE_BYTES_PER_CALL, PREVIEW1_FUNCTIONS, WasiErrno } from "./index.js";
import { PREVIEW1_SIGNATURES, type Probe, probe } from "./probe.fixture.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const silent = { write() {} };

/** Stores `text` at `at` and returns [at, byteLength]. */
function put(p: Probe, at: number, text: string): [number, number] {
  const bytes = encoder.encode(text);
  p.bytes().set(bytes, at);
  return [at, bytes.byteLength];
}

function iovecs(p: Probe, at: number, list: [number, number][]): void {
  const view = p.view();
  list.forEach(([ptr, len], i) => {
    view.setUint32(at + i * 8, ptr, true);
    view.setUint32(at + i * 8 + 4, len, true);
  });
}

async function stdio(stdin?: Uint8Array) {
  const stdout = new OutputRing(1 << 20);
  const stderr = new OutputRing(1 << 20);
  const p = await probe({ args: [], env: {}, stdout, stderr, ...(stdin === undefined ? {} : { stdin }) });
  return { p, stdout, stderr };
}

describe("WASI stdio", () => {
  it("provides every preview1 function, so a module importing all of them with their signatures links", async () => {
    const names = Object.keys(PREVIEW1_SIGNATURES).sort();
    expect(names).toHaveLength(46);
    expect([...PREVIEW1_FUNCTIONS].sort()).toEqual(names);
    const { p } = await stdio();
    for (const name of names) expect(typeof p.call[name]).toBe("function");
  });

  it("captures fd_write to stdout and stderr apart, gathering iovecs and reporting bytes written", async () => {
    const { p, stdout, stderr } = await stdio();
    iovecs(p, 0, [put(p, 100, "hello, "), put(p, 200, "wörld"), put(p, 300, "\n")]);
    expect(p.call["fd_write"]!(1, 0, 3, 64)).toBe(WasiErrno.SUCCESS);
    expect(p.view().getUint32(64, true)).toBe(14);
    iovecs(p, 0, [put(p, 400, "oops\n")]);
    expect(p.call["fd_write"]!(2, 0, 1, 64)).toBe(WasiErrno.SUCCESS);
    expect(p.view().getUint32(64, true)).toBe(5);
    expect(stdout.text()).toBe("hello, wörld\n");
    expect(stderr.text()).toBe("oops\n");
  });

  it("hands the sink a copy that later guest writes to memory do not change", async () => {
    const chunks: Uint8Array[] = [];
    const p = await probe({ args: [], env: {}, stdout: { write: (b) => chunks.push(b) }, stderr: silent });
    iovecs(p, 0, [put(p, 100, "first")]);
    p.call["fd_write"]!(1, 0, 1, 64);
    put(p, 100, "XXXXX");
    expect(chunks.map((c) => decoder.decode(c))).toEqual(["first"]);
  });

  it("caps one fd_write and reports the short count, which libc loops over", async () => {
    const { p, stdout } = await stdio();
    // 300 iovecs over the same 64 KiB page ask for 19.2 MB.
    iovecs(
      p,
      0,
      Array.from({ length: 300 }, (): [number, number] => [0, 65_536]),
    );
    expect(p.call["fd_write"]!(1, 0, 300, 4096)).toBe(WasiErrno.SUCCESS);
    expect(p.view().getUint32(4096, true)).toBe(MAX_WRITE_BYTES_PER_CALL);
    expect(stdout.totalBytes).toBe(MAX_WRITE_BYTES_PER_CALL);
  });

  it("reads stdin across iovecs, then reports end of file as zero bytes", async () => {
    const { p } = await stdio(encoder.encode("abcdefgh"));
    iovecs(p, 0, [
      [100, 3],
      [200, 2],
    ]);
    expect(p.call["fd_read"]!(0, 0, 2, 64)).toBe(WasiErrno.SUCCESS);
    expect(p.view().getUint32(64, true)).toBe(5);
    expect(decoder.decode(p.bytes().subarray(100, 103)) + decoder.decode(p.bytes().subarray(200, 202))).toBe(
      "abcde",
    );
    expect(p.call["fd_read"]!(0, 0, 2, 64)).toBe(WasiErrno.SUCCESS);
    expect(p.view().getUint32(64, true)).toBe(3);
    expect(decoder.decode(p.bytes().subarray(100, 103))).toBe("fgh");
    expect(p.call["fd_read"]!(0, 0, 2, 64)).toBe(WasiErrno.SUCCESS);
    expect(p.view().getUint32(64, true)).toBe(0);
  });

  it("reads end of file at once when no stdin was given", async () => {
    const { p } = await stdio();
    iovecs(p, 0, [[100, 10]]);
    p.view().setUint32(64, 99, true);
    expect(p.call["fd_read"]!(0, 0, 1, 64)).toBe(WasiErrno.SUCCESS);
    expect(p.view().getUint32(64, true)).toBe(0);
  });

  it("answers BADF for every fd that is not open, including a closed stdio fd", async () => {
    const { p, stdout } = await stdio();
    iovecs(p, 0, [put(p, 100, "x")]);
    for (const fd of [3, 4, 100, -1]) {
      expect(p.call["fd_write"]!(fd, 0, 1, 64)).toBe(WasiErrno.BADF);
      expect(p.call["fd_read"]!(fd, 0, 1, 64)).toBe(WasiErrno.BADF);
      expect(p.call["fd_close"]!(fd)).toBe(WasiErrno.BADF);
      expect(p.call["fd_seek"]!(fd, 0n, 0, 64)).toBe(WasiErrno.BADF);
      expect(p.call["fd_tell"]!(fd, 64)).toBe(WasiErrno.BADF);
      expect(p.call["fd_fdstat_get"]!(fd, 64)).toBe(WasiErrno.BADF);
      expect(p.call["fd_filestat_get"]!(fd, 64)).toBe(WasiErrno.BADF);
      expect(p.call["fd_fdstat_set_flags"]!(fd, 0)).toBe(WasiErrno.BADF);
      expect(p.call["fd_pwrite"]!(fd, 0, 1, 0n, 64)).toBe(WasiErrno.BADF);
      expect(p.call["fd_sync"]!(fd)).toBe(WasiErrno.BADF);
    }
    // Writing to stdin and reading from stdout are refused like on a pipe.
    expect(p.call["fd_write"]!(0, 0, 1, 64)).toBe(WasiErrno.BADF);
    expect(p.call["fd_read"]!(1, 0, 1, 64)).toBe(WasiErrno.BADF);
    expect(p.call["fd_close"]!(1)).toBe(WasiErrno.SUCCESS);
    expect(p.call["fd_write"]!(1, 0, 1, 64)).toBe(WasiErrno.BADF);
    expect(p.call["fd_close"]!(1)).toBe(WasiErrno.BADF);
    expect(stdout.totalBytes).toBe(0);
  });

  it("answers SPIPE to seek, tell and positioned io on stdio, with i64 offsets as BigInt", async () => {
    const { p } = await stdio();
    for (const fd of [0, 1, 2]) {
      expect(p.call["fd_seek"]!(fd, -5n, 1, 64)).toBe(WasiErrno.SPIPE);
      expect(p.call["fd_seek"]!(fd, 2n ** 63n - 1n, 0, 64)).toBe(WasiErrno.SPIPE);
      expect(p.call["fd_tell"]!(fd, 64)).toBe(WasiErrno.SPIPE);
      expect(p.call["fd_pread"]!(fd, 0, 0, 0n, 64)).toBe(WasiErrno.SPIPE);
    }
  });

  it("describes stdio as a character device that libc does not take for a terminal", async () => {
    const { p } = await stdio();
    p.bytes().fill(0xee, 64, 64 + 24);
    expect(p.call["fd_fdstat_get"]!(1, 64)).toBe(WasiErrno.SUCCESS);
    const view = p.view();
    expect(view.getUint8(64)).toBe(2);
    expect(view.getUint16(66, true)).toBe(0);
    const rights = view.getBigUint64(72, true);
    const FD_SEEK = 1n << 2n;
    const FD_TELL = 1n << 5n;
    const FD_WRITE = 1n << 6n;
    // wasi-libc's isatty(): a character device with seek or tell rights is not a terminal.
    expect(rights & (FD_SEEK | FD_TELL)).not.toBe(0n);
    expect(rights & FD_WRITE).toBe(FD_WRITE);
    expect(p.call["fd_fdstat_set_flags"]!(1, 4)).toBe(WasiErrno.SUCCESS);
    expect(p.call["fd_filestat_get"]!(2, 128)).toBe(WasiErrno.SUCCESS);
    expect(view.getUint8(128 + 16)).toBe(2);
  });

  it("has no preopened directory unless given one, so libc finds no filesystem and path calls fail", async () => {
    const { p } = await stdio();
    for (const fd of [0, 3, 4]) expect(p.call["fd_prestat_get"]!(fd, 64)).toBe(WasiErrno.BADF);
    expect(p.call["fd_prestat_dir_name"]!(3, 64, 10)).toBe(WasiErrno.BADF);
    put(p, 100, "etc/passwd");
    expect(p.call["path_open"]!(3, 0, 100, 10, 0, 0n, 0n, 0, 64)).toBe(WasiErrno.BADF);
    expect(p.call["path_open"]!(1, 0, 100, 10, 0, 0n, 0n, 0, 64)).toBe(WasiErrno.NOTDIR);
    expect(p.call["path_unlink_file"]!(3, 100, 10)).toBe(WasiErrno.BADF);
    expect(p.call["path_symlink"]!(100, 10, 3, 100, 10)).toBe(WasiErrno.BADF);
    expect(p.call["path_filestat_set_times"]!(3, 0, 100, 10, 0n, 0n, 0)).toBe(WasiErrno.BADF);
  });

  it("answers sockets as wasmtime does (BADF for a closed fd, NOTSOCK for an open one) and NOSYS for signals", async () => {
    const { p } = await stdio();
    expect(p.call["sock_accept"]!(3, 0, 64)).toBe(WasiErrno.BADF);
    expect(p.call["sock_recv"]!(3, 0, 0, 0, 64, 68)).toBe(WasiErrno.BADF);
    expect(p.call["sock_send"]!(3, 0, 0, 0, 64)).toBe(WasiErrno.BADF);
    expect(p.call["sock_shutdown"]!(3, 0)).toBe(WasiErrno.BADF);
    expect(p.call["sock_accept"]!(1, 0, 64)).toBe(WasiErrno.NOTSOCK);
    expect(p.call["sock_recv"]!(0, 0, 0, 0, 64, 68)).toBe(WasiErrno.NOTSOCK);
    expect(p.call["sock_send"]!(1, 0, 0, 0, 64)).toBe(WasiErrno.NOTSOCK);
    expect(p.call["sock_shutdown"]!(1, 0)).toBe(WasiErrno.NOTSOCK);
    expect(p.call["proc_raise"]!(9)).toBe(WasiErrno.NOSYS);
  });

  it("returns FAULT for out-of-bounds iovecs and counts, and neither writes nor throws", async () => {
    const { p, stdout } = await stdio(encoder.encode("input"));
    const end = p.memory.buffer.byteLength;
    iovecs(p, 0, [put(p, 100, "ok"), [end - 1, 2]]);
    expect(p.call["fd_write"]!(1, 0, 2, 64)).toBe(WasiErrno.FAULT);
    iovecs(p, 0, [put(p, 100, "ok")]);
    expect(p.call["fd_write"]!(1, 0, 1, end)).toBe(WasiErrno.FAULT);
    expect(p.call["fd_write"]!(1, end - 4, 1, 64)).toBe(WasiErrno.FAULT);
    expect(p.call["fd_write"]!(1, 0, 0x2000_0000, 64)).toBe(WasiErrno.FAULT);
    expect(p.call["fd_write"]!(1, -8, 1, 64)).toBe(WasiErrno.FAULT);
    expect(stdout.totalBytes).toBe(0);
    iovecs(p, 0, [[end - 2, 4]]);
    expect(p.call["fd_read"]!(0, 0, 1, 64)).toBe(WasiErrno.FAULT);
    // The faulting read consumed nothing.
    iovecs(p, 0, [[100, 16]]);
    expect(p.call["fd_read"]!(0, 0, 1, 64)).toBe(WasiErrno.SUCCESS);
    expect(p.view().getUint32(64, true)).toBe(5);
    expect(p.call["fd_fdstat_get"]!(1, end - 8)).toBe(WasiErrno.FAULT);
  });

  it("follows memory that grew since the previous call", async () => {
    const { p, stdout } = await stdio();
    expect(p.grow(1)).toBe(1);
    const at = 65_536 + 100;
    iovecs(p, 65_536, [put(p, at, "from page two")]);
    expect(p.call["fd_write"]!(1, 65_536, 1, 65_536 + 64)).toBe(WasiErrno.SUCCESS);
    expect(stdout.text()).toBe("from page two");
  });
});

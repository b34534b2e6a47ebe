/**
 * Test support: a module that imports every preview1 function with its real signature and
 * re-exports it, so tests call WASI across a genuine Wasm boundary (i32 wrapping, i64 as BigInt).
 */
import { wat } from "../test-support/wat.js";
import { createWasi, type WasiOptions } from "./index.js";

/** Signatures from `wasi_snapshot_preview1.witx`, written out independently of the implementation. */
export const PREVIEW1_SIGNATURES: Readonly<Record<string, readonly [params: string, results: string]>> = {
  args_get: ["i32 i32", "i32"],
  args_sizes_get: ["i32 i32", "i32"],
  environ_get: ["i32 i32", "i32"],
  environ_sizes_get: ["i32 i32", "i32"],
  clock_res_get: ["i32 i32", "i32"],
  clock_time_get: ["i32 i64 i32", "i32"],
  fd_advise: ["i32 i64 i64 i32", "i32"],
  fd_allocate: ["i32 i64 i64", "i32"],
  fd_close: ["i32", "i32"],
  fd_datasync: ["i32", "i32"],
  fd_fdstat_get: ["i32 i32", "i32"],
  fd_fdstat_set_flags: ["i32 i32", "i32"],
  fd_fdstat_set_rights: ["i32 i64 i64", "i32"],
  fd_filestat_get: ["i32 i32", "i32"],
  fd_filestat_set_size: ["i32 i64", "i32"],
  fd_filestat_set_times: ["i32 i64 i64 i32", "i32"],
  fd_pread: ["i32 i32 i32 i64 i32", "i32"],
  fd_prestat_get: ["i32 i32", "i32"],
  fd_prestat_dir_name: ["i32 i32 i32", "i32"],
  fd_pwrite: ["i32 i32 i32 i64 i32", "i32"],
  fd_read: ["i32 i32 i32 i32", "i32"],
  fd_readdir: ["i32 i32 i32 i64 i32", "i32"],
  fd_renumber: ["i32 i32", "i32"],
  fd_seek: ["i32 i64 i32 i32", "i32"],
  fd_sync: ["i32", "i32"],
  fd_tell: ["i32 i32", "i32"],
  fd_write: ["i32 i32 i32 i32", "i32"],
  path_create_directory: ["i32 i32 i32", "i32"],
  path_filestat_get: ["i32 i32 i32 i32 i32", "i32"],
  path_filestat_set_times: ["i32 i32 i32 i32 i64 i64 i32", "i32"],
  path_link: ["i32 i32 i32 i32 i32 i32 i32", "i32"],
  path_open: ["i32 i32 i32 i32 i32 i64 i64 i32 i32", "i32"],
  path_readlink: ["i32 i32 i32 i32 i32 i32", "i32"],
  path_remove_directory: ["i32 i32 i32", "i32"],
  path_rename: ["i32 i32 i32 i32 i32 i32", "i32"],
  path_symlink: ["i32 i32 i32 i32 i32", "i32"],
  path_unlink_file: ["i32 i32 i32", "i32"],
  poll_oneoff: ["i32 i32 i32 i32", "i32"],
  proc_exit: ["i32", ""],
  proc_raise: ["i32", "i32"],
  sched_yield: ["", "i32"],
  random_get: ["i32 i32", "i32"],
  sock_accept: ["i32 i32 i32", "i32"],
  sock_recv: ["i32 i32 i32 i32 i32 i32", "i32"],
  sock_send: ["i32 i32 i32 i32 i32", "i32"],
  sock_shutdown: ["i32 i32", "i32"],
};

/** Pages the probe starts with; it may grow to 512 (32 MiB). */
export const PROBE_PAGES = 1;

const PROBE_WAT = `(module
${Object.entries(PREVIEW1_SIGNATURES)
  .map(
    ([name, [params, results]]) =>
      `  (import "wasi_snapshot_preview1" "${name}" (func $${name}${params ? ` (param ${params})` : ""}${results ? ` (result ${results})` : ""}))\n` +
      `  (export "${name}" (func $${name}))`,
  )
  .join("\n")}
  (memory (export "memory") ${PROBE_PAGES} 512)
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))`;

let compiled: Promise<WebAssembly.Module> | undefined;

export function probeModule(): Promise<WebAssembly.Module> {
  compiled ??= wat(PROBE_WAT).then((bytes) => WebAssembly.compile(new Uint8Array(bytes)));
  return compiled;
}

export type ProbeCall = (...args: (number | bigint)[]) => number;

export interface Probe {
  call: Record<string, ProbeCall>;
  memory: WebAssembly.Memory;
  grow(pages: number): number;
  /** A fresh view: the buffer changes when memory grows. */
  view(): DataView;
  bytes(): Uint8Array;
}

export async function probe(options: Omit<WasiOptions, "getMemory">): Promise<Probe> {
  let memory: WebAssembly.Memory | undefined;
  const wasi = createWasi({ ...options, getMemory: () => memory! });
  const instance = await WebAssembly.instantiate(await probeModule(), {
    wasi_snapshot_preview1: wasi.imports,
  });
  memory = instance.exports["memory"] as WebAssembly.Memory;
  const mem = memory;
  return {
    call: instance.exports as unknown as Record<string, ProbeCall>,
    memory: mem,
    grow: instance.exports["grow"] as (pages: number) => number,
    view: () => new DataView(mem.buffer),
    bytes: () => new Uint8Array(mem.buffer),
  };
}

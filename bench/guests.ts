/**
 * The guests the suites run, in WAT so every byte is visible, and a bare in-thread host for
 * them: the "raw V8" baseline does the same ABI work as wasmatrix, minus the runtime.
 */
import { readFileSync } from "node:fs";
import { wat } from "@wasmatrix/runtime/test-support/wat";

/** The examples' echo reactor: one page of memory, answers every operation with its payload. */
export const echoReactor = () =>
  wat(readFileSync(new URL("../examples/wat/echo_reactor.wat", import.meta.url), "utf8"));

/**
 * Times its own host calls. Payload: a u32 count, then a namespace. Operation `ping` makes
 * `count` host calls to that namespace, reading the monotonic clock around each; `clock` reads
 * the clock twice with nothing between, to measure what the readings themselves cost. Answers
 * with `count` i64 durations in nanoseconds. Timing from inside the guest leaves out the
 * invocation's own thread crossings, so the host call is all that is measured.
 */
const HOST_PING_WAT = `(module
  (import "wapc" "__guest_request" (func $guest_request (param i32 i32)))
  (import "wapc" "__guest_response" (func $guest_response (param i32 i32)))
  (import "wapc" "__host_call" (func $host_call (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 0) "default")
  (data (i32.const 32) "ping")
  (func $now (result i64)
    (drop (call $clock (i32.const 1) (i64.const 0) (i32.const 64)))
    (i64.load (i32.const 64)))
  (func (export "__guest_call") (param $op_len i32) (param $payload_len i32) (result i32)
    (local $count i32) (local $i i32) (local $t0 i64) (local $ping i32)
    ;; operation at 128, payload at 256: count, then the namespace; durations from 65536
    (call $guest_request (i32.const 128) (i32.const 256))
    (local.set $ping (i32.eq (i32.load8_u (i32.const 128)) (i32.const 112)))
    (local.set $count (i32.load (i32.const 256)))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $count)))
      (local.set $t0 (call $now))
      (if (local.get $ping) (then
        (drop (call $host_call (i32.const 0) (i32.const 7)
                               (i32.const 260) (i32.sub (local.get $payload_len) (i32.const 4))
                               (i32.const 32) (i32.const 4) (i32.const 32) (i32.const 4)))))
      (i64.store (i32.add (i32.const 65536) (i32.shl (local.get $i) (i32.const 3)))
                 (i64.sub (call $now) (local.get $t0)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (call $guest_response (i32.const 65536) (i32.shl (local.get $count) (i32.const 3)))
    (i32.const 1)))`;

export const hostPingReactor = () => wat(HOST_PING_WAT);

/** Most durations one `ping` answers with: they must fit the page after the payload. */
export const MAX_PINGS_PER_CALL = 8192;

/** The `ping`/`clock` payload. */
export function pingPayload(count: number, namespace: string): Uint8Array {
  const name = new TextEncoder().encode(namespace);
  const payload = new Uint8Array(4 + name.byteLength);
  new DataView(payload.buffer).setUint32(0, count, true);
  payload.set(name, 4);
  return payload;
}

/** Durations, in µs, from a `ping`/`clock` response. */
export function pingDurations(response: Uint8Array): number[] {
  const view = new DataView(response.buffer, response.byteOffset, response.byteLength);
  return Array.from(
    { length: response.byteLength / 8 },
    (_, i) => Number(view.getBigUint64(i * 8, true)) / 1000,
  );
}

/**
 * CPU-bound work for the fuel overhead: FNV-1a over a 64 KiB buffer, round and round for `n`
 * bytes (a loop with a load, the shape of most hot loops), and naive Fibonacci (a call per step,
 * so every step pays a function-entry charge).
 */
const CPU_WAT = `(module
  (memory (export "memory") 1)
  (func (export "fnv") (param $n i32) (result i32)
    (local $h i32) (local $i i32)
    (local.set $h (i32.const 0x811c9dc5))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $h (i32.mul
        (i32.xor (local.get $h) (i32.load8_u (i32.and (local.get $i) (i32.const 0xffff))))
        (i32.const 16777619)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (local.get $h))
  (func $fib (export "fib") (param $n i32) (result i32)
    (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
      (then (local.get $n))
      (else (i32.add (call $fib (i32.sub (local.get $n) (i32.const 1)))
                     (call $fib (i32.sub (local.get $n) (i32.const 2))))))))`;

export const cpuGuest = () => wat(CPU_WAT);

/**
 * The Extism counterpart of the echo reactor, written against the Extism kernel imports
 * (`extism:host/env`, as @extism/extism 1.x provides them): copies its input to a block it
 * allocates, eight bytes at a time, and sets it as the output. `ping` calls the user host
 * function `extism:host/user` `ping` once per input byte.
 */
const EXTISM_ECHO_WAT = `(module
  (import "extism:host/env" "input_length" (func $input_length (result i64)))
  (import "extism:host/env" "input_load_u8" (func $input_load_u8 (param i64) (result i32)))
  (import "extism:host/env" "input_load_u64" (func $input_load_u64 (param i64) (result i64)))
  (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
  (import "extism:host/env" "store_u8" (func $store_u8 (param i64 i32)))
  (import "extism:host/env" "store_u64" (func $store_u64 (param i64 i64)))
  (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))
  (import "extism:host/user" "ping" (func $ping (param i64) (result i64)))
  (memory (export "memory") 1)
  (func (export "echo") (result i32)
    (local $len i64) (local $out i64) (local $i i64)
    (local.set $len (call $input_length))
    (local.set $out (call $alloc (local.get $len)))
    (block $words_done (loop $words
      (br_if $words_done (i64.gt_u (i64.add (local.get $i) (i64.const 8)) (local.get $len)))
      (call $store_u64 (i64.add (local.get $out) (local.get $i)) (call $input_load_u64 (local.get $i)))
      (local.set $i (i64.add (local.get $i) (i64.const 8)))
      (br $words)))
    (block $bytes_done (loop $bytes
      (br_if $bytes_done (i64.ge_u (local.get $i) (local.get $len)))
      (call $store_u8 (i64.add (local.get $out) (local.get $i)) (call $input_load_u8 (local.get $i)))
      (local.set $i (i64.add (local.get $i) (i64.const 1)))
      (br $bytes)))
    (call $output_set (local.get $out) (local.get $len))
    (i32.const 0))
  (func (export "ping") (result i32)
    (local $n i64) (local $i i64)
    (local.set $n (call $input_length))
    (block $done (loop $next
      (br_if $done (i64.ge_u (local.get $i) (local.get $n)))
      (drop (call $ping (local.get $i)))
      (local.set $i (i64.add (local.get $i) (i64.const 1)))
      (br $next)))
    (i32.const 0)))`;

export const extismEcho = () => wat(EXTISM_ECHO_WAT);

const encoder = new TextEncoder();

/** The waPC host side with nothing else: what a guest call costs in V8 with no runtime around it. */
export class RawWapc {
  readonly instance: WebAssembly.Instance;
  private operation: Uint8Array = new Uint8Array(0);
  private payload: Uint8Array = new Uint8Array(0);
  private response: Uint8Array = new Uint8Array(0);
  private readonly memory: () => WebAssembly.Memory;
  private readonly guestCall: (operationLen: number, payloadLen: number) => number;

  constructor(module: WebAssembly.Module, hostCall: () => number = () => 1) {
    const imports = {
      wapc: {
        __guest_request: (operationPtr: number, payloadPtr: number) => {
          const bytes = new Uint8Array(this.memory().buffer);
          bytes.set(this.operation, operationPtr);
          bytes.set(this.payload, payloadPtr);
        },
        __guest_response: (ptr: number, len: number) => {
          this.response = new Uint8Array(this.memory().buffer, ptr, len).slice();
        },
        __guest_error: () => undefined,
        __host_call: hostCall,
      },
      wasi_snapshot_preview1: {
        clock_time_get: (_id: number, _precision: bigint, ptr: number) => {
          new DataView(this.memory().buffer).setBigUint64(ptr, process.hrtime.bigint(), true);
          return 0;
        },
      },
    };
    this.instance = new WebAssembly.Instance(module, imports);
    this.memory = () => this.instance.exports["memory"] as WebAssembly.Memory;
    this.guestCall = this.instance.exports["__guest_call"] as (a: number, b: number) => number;
  }

  invoke(operation: string, payload: Uint8Array): Uint8Array {
    this.operation = encoder.encode(operation);
    this.payload = payload;
    if (this.guestCall(this.operation.byteLength, payload.byteLength) !== 1) throw new Error("guest error");
    return this.response;
  }
}

import { wat } from "@wasmatrix/runtime/test-support/wat";

/**
 * Guests for the node agent's tests, in WAT so that every byte is visible.
 *
 * The proxy reactor's operations:
 * - `call`: a capability call described by the payload: three length bytes (binding, namespace,
 *   operation), then those three strings, then the call's payload. Answers with the host's
 *   response, or a guest error holding the host's error JSON.
 * - `count`: bumps a counter kept in linear memory and answers with it (u32, little endian).
 * - `trap`: traps.
 * - `echo`: answers with its payload.
 */
const PROXY_WAT = `(module
  (import "wapc" "__guest_request" (func $guest_request (param i32 i32)))
  (import "wapc" "__guest_response" (func $guest_response (param i32 i32)))
  (import "wapc" "__guest_error" (func $guest_error (param i32 i32)))
  (import "wapc" "__host_call" (func $host_call (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wapc" "__host_response_len" (func $host_response_len (result i32)))
  (import "wapc" "__host_response" (func $host_response (param i32)))
  (import "wapc" "__host_error_len" (func $host_error_len (result i32)))
  (import "wapc" "__host_error" (func $host_error (param i32)))
  (memory (export "memory") 4)
  (global $counter (mut i32) (i32.const 0))
  (func (export "__guest_call") (param $op_len i32) (param $payload_len i32) (result i32)
    (local $c i32) (local $b i32) (local $n i32) (local $o i32) (local $p i32)
    ;; operation at 1024, payload at 65536, answers at 131072
    (call $guest_request (i32.const 1024) (i32.const 65536))
    (local.set $c (i32.load8_u (i32.const 1024)))
    ;; call
    (if (i32.eq (local.get $c) (i32.const 99)) (then
      (if (i32.eq (i32.load8_u (i32.const 1025)) (i32.const 97)) (then
        (local.set $b (i32.load8_u (i32.const 65536)))
        (local.set $n (i32.load8_u (i32.const 65537)))
        (local.set $o (i32.load8_u (i32.const 65538)))
        (local.set $p (i32.add (i32.const 65539) (i32.add (local.get $b) (i32.add (local.get $n) (local.get $o)))))
        (if (call $host_call
              (i32.const 65539) (local.get $b)
              (i32.add (i32.const 65539) (local.get $b)) (local.get $n)
              (i32.add (i32.const 65539) (i32.add (local.get $b) (local.get $n))) (local.get $o)
              (local.get $p) (i32.sub (i32.add (i32.const 65536) (local.get $payload_len)) (local.get $p)))
          (then
            (call $host_response (i32.const 131072))
            (call $guest_response (i32.const 131072) (call $host_response_len))
            (return (i32.const 1))))
        (call $host_error (i32.const 131072))
        (call $guest_error (i32.const 131072) (call $host_error_len))
        (return (i32.const 0))))
      ;; count
      (global.set $counter (i32.add (global.get $counter) (i32.const 1)))
      (i32.store (i32.const 512) (global.get $counter))
      (call $guest_response (i32.const 512) (i32.const 4))
      (return (i32.const 1))))
    ;; trap
    (if (i32.eq (local.get $c) (i32.const 116)) (then unreachable))
    (if (i32.eq (local.get $c) (i32.const 101)) (then
      (call $guest_response (i32.const 65536) (local.get $payload_len))
      (return (i32.const 1))))
    unreachable))`;

/** A command that traps as soon as it starts. */
const TRAP_COMMAND_WAT = `(module (memory 1) (func (export "_start") unreachable))`;

/** A command that returns at once: exit 0, completed. */
const DONE_COMMAND_WAT = `(module (memory 1) (func (export "_start")))`;

/** A command that never ends (until stopped or out of fuel). */
const SPIN_COMMAND_WAT = `(module (memory 1) (func (export "_start") (loop $l (br $l))))`;

export const guests = {
  proxy: () => wat(PROXY_WAT),
  trapCommand: () => wat(TRAP_COMMAND_WAT),
  doneCommand: () => wat(DONE_COMMAND_WAT),
  spinCommand: () => wat(SPIN_COMMAND_WAT),
};

const encoder = new TextEncoder();

/** The `call` payload for the proxy reactor. */
export function capabilityCall(
  binding: string,
  namespace: string,
  operation: string,
  payload: unknown,
): Uint8Array {
  const head = [binding, namespace, operation].map((s) => encoder.encode(s));
  const body = encoder.encode(typeof payload === "string" ? payload : JSON.stringify(payload));
  const out = new Uint8Array(3 + head.reduce((n, h) => n + h.byteLength, 0) + body.byteLength);
  let at = 3;
  head.forEach((h, i) => {
    out[i] = h.byteLength;
    out.set(h, at);
    at += h.byteLength;
  });
  out.set(body, at);
  return out;
}

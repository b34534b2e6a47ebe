/**
 * Guests for the runtime's own tests, in WAT so that every byte is visible. The reactor picks
 * its behaviour from the first letter of the operation name.
 */

const WAPC_IMPORTS = `
  (import "wapc" "__guest_request" (func $guest_request (param i32 i32)))
  (import "wapc" "__guest_response" (func $guest_response (param i32 i32)))
  (import "wapc" "__guest_error" (func $guest_error (param i32 i32)))
  (import "wapc" "__host_call" (func $host_call (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wapc" "__host_response_len" (func $host_response_len (result i32)))
  (import "wapc" "__host_response" (func $host_response (param i32)))
  (import "wapc" "__host_error_len" (func $host_error_len (result i32)))
  (import "wapc" "__host_error" (func $host_error (param i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
`;

/**
 * Operations: echo, fail (guest error), loop (forever), unreachable, oob (load past memory),
 * recurse (unbounded), grow (until refused, then unreachable), sum (payload[0]*1000 iterations,
 * returns nothing: for fuel determinism), print (payload to stdout N=payload-len times… once),
 * hostcall (namespace = payload, answers with the host's response or its error),
 * Host-call big (payload of 200 000 bytes), counter (static counter in memory), big response.
 * Memory: op at 1024, payload at 65536 (page 1), scratch at 512.
 */
export const REACTOR_WAT = `(module
  ${WAPC_IMPORTS}
  (memory (export "memory") 8)
  (global $counter (mut i32) (i32.const 0))
  (data (i32.const 0) "default")
  (data (i32.const 16) "op")
  (func $recurse (param i32) (result i32)
    (call $recurse (i32.add (local.get 0) (i32.const 1))))
  (func (export "__guest_call") (param $op_len i32) (param $payload_len i32) (result i32)
    (local $c i32) (local $i i32) (local $acc i32)
    (call $guest_request (i32.const 1024) (i32.const 65536))
    (local.set $c (i32.load8_u (i32.const 1024)))
    ;; e: echo
    (if (i32.eq (local.get $c) (i32.const 101)) (then
      (call $guest_response (i32.const 65536) (local.get $payload_len))
      (return (i32.const 1))))
    ;; f: fail
    (if (i32.eq (local.get $c) (i32.const 102)) (then
      (call $guest_error (i32.const 65536) (local.get $payload_len))
      (return (i32.const 0))))
    ;; l: loop forever
    (if (i32.eq (local.get $c) (i32.const 108)) (then
      (loop $forever (local.set $i (i32.add (local.get $i) (i32.const 1))) (br $forever))))
    ;; u: unreachable
    (if (i32.eq (local.get $c) (i32.const 117)) (then unreachable))
    ;; o: out-of-bounds load
    (if (i32.eq (local.get $c) (i32.const 111)) (then
      (drop (i32.load (i32.const 0xfffffff0)))))
    ;; r: unbounded recursion
    (if (i32.eq (local.get $c) (i32.const 114)) (then
      (drop (call $recurse (i32.const 0)))))
    ;; g: grow until refused, then trap
    (if (i32.eq (local.get $c) (i32.const 103)) (then
      (loop $more
        (br_if $more (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
      unreachable))
    ;; s: sum loop, payload[0] * 1000 iterations
    (if (i32.eq (local.get $c) (i32.const 115)) (then
      (local.set $i (i32.mul (i32.load8_u (i32.const 65536)) (i32.const 1000)))
      (block $done (loop $next
        (br_if $done (i32.eqz (local.get $i)))
        (local.set $acc (i32.add (local.get $acc) (local.get $i)))
        (local.set $i (i32.sub (local.get $i) (i32.const 1)))
        (br $next)))
      (i32.store (i32.const 512) (local.get $acc))
      (call $guest_response (i32.const 512) (i32.const 4))
      (return (i32.const 1))))
    ;; p: print the payload to stdout (fd 1), iovec at 256
    (if (i32.eq (local.get $c) (i32.const 112)) (then
      (i32.store (i32.const 256) (i32.const 65536))
      (i32.store (i32.const 260) (local.get $payload_len))
      (drop (call $fd_write (i32.const 1) (i32.const 256) (i32.const 1) (i32.const 300)))
      (return (i32.const 1))))
    ;; h: host call to the namespace named by the payload
    (if (i32.eq (local.get $c) (i32.const 104)) (then
      (if (call $host_call (i32.const 0) (i32.const 7) (i32.const 65536) (local.get $payload_len)
                           (i32.const 16) (i32.const 2) (i32.const 16) (i32.const 2))
        (then
          (call $host_response (i32.const 131072))
          (call $guest_response (i32.const 131072) (call $host_response_len))
          (return (i32.const 1))))
      (call $host_error (i32.const 131072))
      (call $guest_error (i32.const 131072) (call $host_error_len))
      (return (i32.const 0))))
    ;; H: host call with a 200 000-byte payload
    (if (i32.eq (local.get $c) (i32.const 72)) (then
      (if (call $host_call (i32.const 0) (i32.const 7) (i32.const 0) (i32.const 7)
                           (i32.const 16) (i32.const 2) (i32.const 65536) (i32.const 200000))
        (then (return (i32.const 1))))
      (call $host_error (i32.const 131072))
      (call $guest_error (i32.const 131072) (call $host_error_len))
      (return (i32.const 0))))
    ;; c: bump and return a counter kept in linear memory
    (if (i32.eq (local.get $c) (i32.const 99)) (then
      (global.set $counter (i32.add (global.get $counter) (i32.const 1)))
      (i32.store (i32.const 512) (global.get $counter))
      (call $guest_response (i32.const 512) (i32.const 4))
      (return (i32.const 1))))
    ;; b: a 300 000-byte response
    (if (i32.eq (local.get $c) (i32.const 98)) (then
      (call $guest_response (i32.const 0) (i32.const 300000))
      (return (i32.const 1))))
    ;; m: fill 32 MiB over and over. A bulk op costs one fuel unit, so fuel checks come too
    ;; rarely to see the deadline: only the watchdog stops this one.
    (if (i32.eq (local.get $c) (i32.const 109)) (then
      (drop (memory.grow (i32.const 512)))
      (loop $fill (memory.fill (i32.const 0) (i32.const 0) (i32.const 33554432)) (br $fill))))
    (call $guest_error (i32.const 1024) (local.get $op_len))
    (i32.const 0)))`;

/** A WASI command: prints "hello <argv[1]>" and exits with the code in env EXIT (a digit). */
export const HELLO_COMMAND_WAT = `(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "hello ")
  (func (export "_start")
    (local $argc i32) (local $arg1 i32) (local $len i32)
    (drop (call $args_sizes_get (i32.const 100) (i32.const 104)))
    (local.set $argc (i32.load (i32.const 100)))
    (drop (call $args_get (i32.const 200) (i32.const 1000)))
    ;; iovec 0: "hello "
    (i32.store (i32.const 300) (i32.const 0))
    (i32.store (i32.const 304) (i32.const 6))
    (drop (call $fd_write (i32.const 1) (i32.const 300) (i32.const 1) (i32.const 400)))
    (if (i32.gt_u (local.get $argc) (i32.const 1)) (then
      (local.set $arg1 (i32.load (i32.const 204)))
      (block $end (loop $scan
        (br_if $end (i32.eqz (i32.load8_u (i32.add (local.get $arg1) (local.get $len)))))
        (local.set $len (i32.add (local.get $len) (i32.const 1)))
        (br $scan)))
      (i32.store (i32.const 300) (local.get $arg1))
      (i32.store (i32.const 304) (local.get $len))
      (drop (call $fd_write (i32.const 1) (i32.const 300) (i32.const 1) (i32.const 400)))))
    (call $proc_exit (i32.const 3))))`;

/** A command that never ends. */
export const LOOP_COMMAND_WAT = `(module
  (memory (export "memory") 1)
  (func (export "_start") (loop $l (br $l))))`;

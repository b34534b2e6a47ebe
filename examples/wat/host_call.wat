;; A reactor that passes each invocation's payload to the logging capability through __host_call,
;; at the level named by the operation (info, warn, ...). It answers "logged" when the host
;; accepts the call, and otherwise returns the host's error JSON as its guest error: the full
;; host-call protocol, success and failure, without a language runtime in the way.
(module
  (import "wapc" "__guest_request" (func $guest_request (param i32 i32)))
  (import "wapc" "__guest_response" (func $guest_response (param i32 i32)))
  (import "wapc" "__guest_error" (func $guest_error (param i32 i32)))
  (import "wapc" "__host_call"
    (func $host_call (param $binding i32) (param $binding_len i32) (param $ns i32) (param $ns_len i32)
                     (param $op i32) (param $op_len i32) (param $payload i32) (param $payload_len i32)
                     (result i32)))
  (import "wapc" "__host_error_len" (func $host_error_len (result i32)))
  (import "wapc" "__host_error" (func $host_error (param i32)))
  (memory (export "memory") 1)

  (data (i32.const 0) "default")              ;; binding, 7 bytes
  (data (i32.const 16) "wasmatrix:logging")   ;; namespace, 17 bytes
  (data (i32.const 48) "logged")              ;; response, 6 bytes
  (data (i32.const 64) "request does not fit in memory") ;; 30 bytes
  (global $REQUEST i32 (i32.const 1024))

  ;; Makes room for $len bytes at $REQUEST; 0 when memory.grow refuses (the instance's cap).
  (func $reserve (param $len i32) (result i32)
    (local $end i32)
    (local.set $end (i32.add (global.get $REQUEST) (local.get $len)))
    (if (result i32) (i32.le_u (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
      (then (i32.const 1))
      (else
        (i32.ne (i32.const -1)
          (memory.grow (i32.sub (i32.shr_u (i32.add (local.get $end) (i32.const 65535)) (i32.const 16))
                                (memory.size)))))))

  (func (export "__guest_call") (param $op_len i32) (param $payload_len i32) (result i32)
    (local $payload i32)
    (local $error_len i32)
    (if (i32.eqz (call $reserve (i32.add (local.get $op_len) (local.get $payload_len))))
      (then
        (call $guest_error (i32.const 64) (i32.const 30))
        (return (i32.const 0))))
    (local.set $payload (i32.add (global.get $REQUEST) (local.get $op_len)))
    (call $guest_request (global.get $REQUEST) (local.get $payload))
    ;; The invocation's operation becomes the host call's operation: the log level.
    (if (call $host_call
          (i32.const 0) (i32.const 7)
          (i32.const 16) (i32.const 17)
          (global.get $REQUEST) (local.get $op_len)
          (local.get $payload) (local.get $payload_len))
      (then
        (call $guest_response (i32.const 48) (i32.const 6))
        (return (i32.const 1))))
    ;; The error JSON goes where the request was: the request is no longer needed.
    (local.set $error_len (call $host_error_len))
    (if (i32.eqz (call $reserve (local.get $error_len)))
      (then
        (call $guest_error (i32.const 64) (i32.const 30))
        (return (i32.const 0))))
    (call $host_error (global.get $REQUEST))
    (call $guest_error (global.get $REQUEST) (local.get $error_len))
    (i32.const 0)))

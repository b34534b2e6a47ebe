;; The smallest waPC reactor: every operation answers with its payload. No allocator: the request
;; goes at a fixed offset, and memory grows when a request does not fit, so it also shows that a
;; guest's own memory.grow is subject to the instance's memory cap.
(module
  (import "wapc" "__guest_request" (func $guest_request (param $op i32) (param $payload i32)))
  (import "wapc" "__guest_response" (func $guest_response (param $ptr i32) (param $len i32)))
  (import "wapc" "__guest_error" (func $guest_error (param $ptr i32) (param $len i32)))
  (memory (export "memory") 1)

  (data (i32.const 0) "request does not fit in memory")
  (global $REQUEST i32 (i32.const 1024))

  (func (export "__guest_call") (param $op_len i32) (param $payload_len i32) (result i32)
    (local $end i32)
    ;; Bytes needed past the request's start, rounded up to whole pages.
    (local.set $end (i32.add (global.get $REQUEST) (i32.add (local.get $op_len) (local.get $payload_len))))
    (if (i32.gt_u (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
      (then
        (if (i32.eq
              (memory.grow (i32.sub (i32.shr_u (i32.add (local.get $end) (i32.const 65535)) (i32.const 16))
                                    (memory.size)))
              (i32.const -1))
          (then
            (call $guest_error (i32.const 0) (i32.const 30))
            (return (i32.const 0))))))
    (call $guest_request (global.get $REQUEST) (i32.add (global.get $REQUEST) (local.get $op_len)))
    (call $guest_response (i32.add (global.get $REQUEST) (local.get $op_len)) (local.get $payload_len))
    (i32.const 1)))

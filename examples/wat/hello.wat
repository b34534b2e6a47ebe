;; A WASI command with no libc: one fd_write to stdout. It is what a module looks like when
;; nothing but the ABI is involved, and it imports exactly one WASI function.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param $fd i32) (param $iovs i32) (param $iovs_len i32) (param $nwritten i32) (result i32)))
  (memory (export "memory") 1)

  ;; One iovec {ptr, len} at 0 pointing at the text at 16.
  (data (i32.const 0) "\10\00\00\00\0f\00\00\00")
  (data (i32.const 16) "hello from wat\n")

  (func (export "_start")
    ;; The errno is dropped: there is nothing a guest this small could do about a failed write.
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))

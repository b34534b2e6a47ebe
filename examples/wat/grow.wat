;; A command that grows memory one page at a time until memory.grow answers -1, then prints how
;; many pages it got. Under an instance cap (default 256 MiB = 4096 pages) the answer is the cap;
;; the point is that hitting it is a -1 the guest can handle, not a crash.
;;
;;   grow: 4095 pages added, 4096 pages total
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)

  (data (i32.const 64) "grow: ")
  (data (i32.const 96) " pages added, ")
  (data (i32.const 128) " pages total\n")

  ;; Appends the text at $src ($len bytes) to the line being built at $at; returns the new end.
  ;; A byte loop rather than memory.copy keeps the module to the MVP feature set.
  (func $append (param $at i32) (param $src i32) (param $len i32) (result i32)
    (block $done
      (loop $byte
        (br_if $done (i32.eqz (local.get $len)))
        (i32.store8 (local.get $at) (i32.load8_u (local.get $src)))
        (local.set $at (i32.add (local.get $at) (i32.const 1)))
        (local.set $src (i32.add (local.get $src) (i32.const 1)))
        (local.set $len (i32.sub (local.get $len) (i32.const 1)))
        (br $byte)))
    (local.get $at))

  ;; Appends $n in decimal: digits are produced backwards into a scratch area, then copied.
  (func $append_u32 (param $at i32) (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (i32.const 192))
    (loop $digit
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p) (i32.add (i32.const 48) (i32.rem_u (local.get $n) (i32.const 10))))
      (local.set $n (i32.div_u (local.get $n) (i32.const 10)))
      (br_if $digit (local.get $n)))
    (call $append (local.get $at) (local.get $p) (i32.sub (i32.const 192) (local.get $p))))

  (func (export "_start")
    (local $added i32)
    (local $end i32)
    (block $refused
      (loop $more
        (br_if $refused (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
        (local.set $added (i32.add (local.get $added) (i32.const 1)))
        (br $more)))
    ;; The line is built at 256; the iovec {256, len} goes at 0 and nwritten at 8.
    (local.set $end (call $append (i32.const 256) (i32.const 64) (i32.const 6)))
    (local.set $end (call $append_u32 (local.get $end) (local.get $added)))
    (local.set $end (call $append (local.get $end) (i32.const 96) (i32.const 14)))
    (local.set $end (call $append_u32 (local.get $end) (memory.size)))
    (local.set $end (call $append (local.get $end) (i32.const 128) (i32.const 13)))
    (i32.store (i32.const 0) (i32.const 256))
    (i32.store (i32.const 4) (i32.sub (local.get $end) (i32.const 256)))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))

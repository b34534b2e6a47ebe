;; A command that recurses until the engine's stack runs out (`stack_overflow`). The add after
;; the call keeps the call out of tail position, so no engine can turn it into a loop.
(module
  (memory (export "memory") 1)
  (func $deeper (param $n i32) (result i32)
    (i32.add (call $deeper (i32.add (local.get $n) (i32.const 1))) (i32.const 1)))
  (func (export "_start")
    (drop (call $deeper (i32.const 0)))))

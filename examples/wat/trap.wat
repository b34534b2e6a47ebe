;; A command that executes `unreachable` at once: the plainest trap, classified `unreachable`.
(module
  (memory (export "memory") 1)
  (func (export "_start")
    unreachable))

;; A command that loops forever without calling anything: no host call, no WASI, no allocation.
;; Only the fuel check the runtime instruments into loop headers can stop it, which is exactly
;; what this guest exists to prove (wasmatrix run --fuel 1000000 / --timeout 2s).
(module
  (memory (export "memory") 1)
  (func (export "_start")
    (loop $forever
      (br $forever))))

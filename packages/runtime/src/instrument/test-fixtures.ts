/** WAT guests shared by the instrumenter's tests; each exercises one family of features. */

export const ARITHMETIC = `(module
  (func $fact (export "fact") (param i64) (result i64)
    (if (result i64) (i64.eqz (local.get 0)) (then (i64.const 1))
      (else (i64.mul (local.get 0) (call $fact (i64.sub (local.get 0) (i64.const 1)))))))
  (func (export "sum") (param $n i32) (result i32) (local $acc i32)
    (block $done
      (loop $l
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $acc (i32.add (local.get $acc) (local.get $n)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $l)))
    (local.get $acc))
  (func (export "nested") (param $n i32) (result i32) (local $i i32) (local $j i32) (local $acc i32)
    (loop $outer
      (local.set $j (i32.const 0))
      (loop $inner
        (local.set $acc (i32.add (local.get $acc) (i32.mul (local.get $i) (local.get $j))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br_if $inner (i32.lt_u (local.get $j) (local.get $n))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $outer (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $acc))
  (func (export "classify") (param i32) (result i32)
    (block $c (block $b (block $a
      (br_table $a $b $c (local.get 0)))
      (return (i32.const 10)))
      (return (i32.const 20)))
    (i32.const 30))
  (func (export "divmod") (param i32 i32) (result i32 i32)
    (i32.div_u (local.get 0) (local.get 1)) (i32.rem_u (local.get 0) (local.get 1)))
  (func (export "collatz") (param $n i64) (result i32) (local $steps i32)
    (loop $l (if (i64.ne (local.get $n) (i64.const 1)) (then
      (local.set $n (select (i64.shr_u (local.get $n) (i64.const 1))
                            (i64.add (i64.mul (local.get $n) (i64.const 3)) (i64.const 1))
                            (i64.eqz (i64.rem_u (local.get $n) (i64.const 2)))))
      (local.set $steps (i32.add (local.get $steps) (i32.const 1)))
      (br $l))))
    (local.get $steps))
)`;

/** Imported function 0, then defined ones; every place a function index can appear. */
export const INDEXES = `(module
  (import "env" "base" (func $base (result i32)))
  (import "env" "offset" (global $offset i32))
  (type $ret (func (result i32)))
  (table $t 10 funcref)
  (table $t2 4 funcref)
  (global $fromInit funcref (ref.func $seven))
  (global $started (mut i32) (i32.const 0))
  (elem (i32.const 0) $one $two $base)
  (elem (table $t2) (global.get $offset) func $three)
  (elem $passive func $four $five)
  (elem $passiveExprs funcref (ref.func $six) (ref.null func))
  (elem (table $t) (i32.const 4) funcref (ref.func $seven) (ref.func $one))
  (elem (table $t2) (i32.const 2) funcref (ref.func $eight))
  (elem declare func $eight)
  (start $init)
  (func $one (result i32) (i32.const 1))
  (func $two (result i32) (i32.const 2))
  (func $three (result i32) (i32.const 3))
  (func $four (result i32) (i32.const 4))
  (func $five (result i32) (i32.const 5))
  (func $six (result i32) (i32.const 6))
  (func $seven (result i32) (i32.const 7))
  (func $eight (result i32) (i32.const 8))
  (func $init (global.set $started (i32.add (call $base) (call $two))))
  (func (export "indirect") (param i32) (result i32) (call_indirect $t (type $ret) (local.get 0)))
  (func (export "indirect2") (param i32) (result i32) (call_indirect $t2 (type $ret) (local.get 0)))
  (func (export "initPassive") (table.init $t $passive (i32.const 6) (i32.const 0) (i32.const 2)))
  (func (export "initPassiveExprs") (table.init $t $passiveExprs (i32.const 8) (i32.const 0) (i32.const 2)))
  (func (export "viaGlobal") (result i32)
    (table.set $t (i32.const 9) (global.get $fromInit))
    (call_indirect $t (type $ret) (i32.const 9)))
  (func (export "viaRefFunc") (result i32)
    (table.set $t (i32.const 9) (ref.func $eight))
    (call_indirect $t (type $ret) (i32.const 9)))
  (func (export "tail") (result i32) (return_call $five))
  (func (export "tailIndirect") (param i32) (result i32) (return_call_indirect $t (type $ret) (local.get 0)))
  (func (export "started") (result i32) (global.get $started))
  (func (export "direct") (result i32) (i32.add (call $one) (call $base)))
  (export "three" (func $three))
  (export "base" (func $base))
  (export "table" (table $t))
)`;

export const SIMD = `(module (memory 1)
  (func (export "dot") (result i32) (local $v v128)
    (v128.store (i32.const 0) (v128.const i32x4 1 2 3 4))
    (local.set $v (i32x4.mul (v128.load (i32.const 0)) (v128.const i32x4 5 6 7 8)))
    (local.set $v (i8x16.shuffle 4 5 6 7 0 1 2 3 12 13 14 15 8 9 10 11 (local.get $v) (local.get $v)))
    (local.set $v (v128.load32_lane 2 (i32.const 0) (local.get $v)))
    (v128.store32_lane 3 (i32.const 32) (local.get $v))
    (drop (v128.load32_zero (i32.const 0)))
    (drop (v128.load8x8_s (i32.const 0)))
    (i32.add
      (i32.add (i32x4.extract_lane 0 (local.get $v)) (i32x4.extract_lane 1 (local.get $v)))
      (i32.add (i32x4.extract_lane 2 (i32x4.replace_lane 2 (local.get $v) (i32.const 100)))
               (i32.load (i32.const 32)))))
  (func (export "allTrue") (result i32) (i8x16.all_true (i8x16.splat (i32.const 3)))))`;

export const BULK = `(module (memory 1) (table 4 funcref) (elem $e func $a $b) (data $d "bulk")
  (func $a (result i32) (i32.const 11))
  (func $b (result i32) (i32.const 22))
  (func (export "run") (result i32)
    (memory.fill (i32.const 0) (i32.const 7) (i32.const 16))
    (memory.init $d (i32.const 4) (i32.const 0) (i32.const 4))
    (memory.copy (i32.const 100) (i32.const 0) (i32.const 16))
    (data.drop $d)
    (table.init 0 $e (i32.const 0) (i32.const 0) (i32.const 2))
    (elem.drop $e)
    (table.copy (i32.const 2) (i32.const 0) (i32.const 2))
    (drop (table.grow (ref.null func) (i32.const 2)))
    (table.fill (i32.const 4) (ref.null func) (i32.const 2))
    (i32.add (i32.add (i32.load8_u (i32.const 104)) (table.size))
      (i32.add (call_indirect (result i32) (i32.const 3))
        (select (result i32) (i32.const 1) (i32.const 2) (ref.is_null (table.get (i32.const 5))))))))`;

export const TAIL = `(module (type $t (func (param i64 i64) (result i64))) (table 1 funcref) (elem (i32.const 0) $sum)
  (func $sum (param $n i64) (param $acc i64) (result i64)
    (if (result i64) (i64.eqz (local.get $n)) (then (local.get $acc))
      (else (return_call $sum (i64.sub (local.get $n) (i64.const 1)) (i64.add (local.get $acc) (local.get $n))))))
  (func (export "sum") (param i64) (result i64) (return_call_indirect (type $t) (local.get 0) (i64.const 0) (i32.const 0))))`;

export const EXCEPTIONS = `(module
  (tag $boom (param i32))
  (tag $other)
  (export "boom" (tag $boom))
  (func $thrower (param i32) (throw $boom (local.get 0)))
  (func (export "catchIt") (param i32) (result i32)
    (try (result i32)
      (do (call $thrower (local.get 0)) (i32.const 0))
      (catch $boom (i32.add (i32.const 1000)))
      (catch_all (i32.const -1))))
  (func (export "rethrown") (param i32) (result i32)
    (try (result i32)
      (do (try (do (call $thrower (local.get 0))) (catch $boom (drop) (rethrow 0))) (i32.const 0))
      (catch $boom (drop) (i32.const 1))))
  (func (export "delegated") (result i32)
    (try (result i32)
      (do (try (do (throw $other)) (delegate 0)) (i32.const 0))
      (catch $other (i32.const 2))))
  (func (export "loopy") (param $n i32) (result i32) (local $caught i32)
    (loop $l
      try
        (call $thrower (local.get $n))
      catch $boom
        local.get $caught
        i32.add
        local.set $caught
      end
      (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
    (local.get $caught)))`;

export const ATOMICS = `(module (memory 1 1 shared)
  (func (export "run") (result i32)
    (i32.atomic.store (i32.const 0) (i32.const 5))
    (drop (i32.atomic.rmw.add (i32.const 0) (i32.const 3)))
    (drop (i64.atomic.rmw32.cmpxchg_u (i32.const 8) (i64.const 0) (i64.const 9)))
    (atomic.fence)
    (drop (memory.atomic.notify (i32.const 0) (i32.const 0)))
    (i32.add (i32.atomic.load (i32.const 0)) (i32.atomic.load8_u (i32.const 8)))))`;

export const NUMERIC = `(module
  (func (export "signExt") (param i32) (result i32) (i32.extend8_s (local.get 0)))
  (func (export "satTrunc") (param f64) (result i32) (i32.trunc_sat_f64_s (local.get 0)))
  (func (export "wide") (result i64) (i64.extend32_s (i64.const 0x80000000)))
  (func (export "pair") (result i32 i64 f32 f64) (i32.const -7) (i64.const -9000000000) (f32.const 1.5) (f64.const -2.25))
  (func (export "blocks") (param i32) (result i32)
    (i32.const 3) (block (param i32) (result i32) (i32.add (local.get 0))))
  (func (export "loopParams") (param i32) (result i32)
    (local.get 0) (loop $l (param i32) (result i32)
      (i32.sub (i32.const 1)) (local.tee 0) (br_if $l (i32.gt_s (local.get 0) (i32.const 0)))))
  (func (export "externs") (param externref) (result i32) (ref.is_null (local.get 0))))`;

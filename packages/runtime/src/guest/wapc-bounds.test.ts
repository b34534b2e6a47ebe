import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Outcome } from "../outcome.js";
import { type CompiledModule, Runtime } from "../runtime.js";
import { wat } from "../test-support/wat.js";

/**
 * A reactor that passes the (pointer, length) of its payload to one waPC import, chosen by the
 * operation's first letter: h = __host_call's payload, l = __console_log, e = __guest_error,
 * r = __guest_response. A host call answers with its i32 result.
 */
const PASS_RANGE_WAT = `(module
  (import "wapc" "__guest_request" (func $request (param i32 i32)))
  (import "wapc" "__guest_response" (func $response (param i32 i32)))
  (import "wapc" "__guest_error" (func $error (param i32 i32)))
  (import "wapc" "__host_call" (func $host_call (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wapc" "__console_log" (func $log (param i32 i32)))
  (memory (export "memory") 4)
  (data (i32.const 1024) "defaulttest:xecho")
  (func (export "__guest_call") (param $op_len i32) (param $payload_len i32) (result i32)
    (local $op i32) (local $ptr i32) (local $len i32)
    (call $request (i32.const 0) (i32.const 64))
    (local.set $op (i32.load8_u (i32.const 0)))
    (local.set $ptr (i32.load (i32.const 64)))
    (local.set $len (i32.load (i32.const 68)))
    (if (i32.eq (local.get $op) (i32.const 104)) (then
      (i32.store (i32.const 128)
        (call $host_call (i32.const 1024) (i32.const 7) (i32.const 1031) (i32.const 6)
          (i32.const 1037) (i32.const 4) (local.get $ptr) (local.get $len)))
      (call $response (i32.const 128) (i32.const 4))
      (return (i32.const 1))))
    (if (i32.eq (local.get $op) (i32.const 108)) (then
      (call $log (local.get $ptr) (local.get $len))
      (return (i32.const 1))))
    (if (i32.eq (local.get $op) (i32.const 101)) (then
      (call $error (local.get $ptr) (local.get $len))
      (return (i32.const 0))))
    (call $response (local.get $ptr) (local.get $len))
    (i32.const 1)))`;

const MEMORY_BYTES = 4 * 65_536;
const CAP = 1_000;

function range(ptr: number, len: number): Uint8Array {
  const payload = new Uint8Array(8);
  new DataView(payload.buffer).setUint32(0, ptr, true);
  new DataView(payload.buffer).setUint32(4, len, true);
  return payload;
}

const reason = (outcome: Outcome) => (outcome.status === "crashed" ? outcome.reason : "ok");

describe("waPC ranges", () => {
  const runtime = new Runtime({
    workers: 1,
    hostCallRouter: { call: async () => new Uint8Array([1]) },
  });
  let module: CompiledModule;
  let n = 0;
  beforeAll(async () => {
    module = await runtime.compile(await wat(PASS_RANGE_WAT));
  });
  afterAll(() => runtime.close());

  async function pass(op: string, ptr: number, len: number) {
    const instance = await runtime.instantiate(module, {
      instanceId: `range-${n++}`,
      limits: { maxHostCallPayloadBytes: CAP },
    });
    try {
      return await instance.invoke(op, range(ptr, len));
    } finally {
      await instance.dispose();
    }
  }

  it("crash a host call whose payload range leaves memory, even when it is also over the cap (pointer 16, length 2^31-1)", async () => {
    const result = await pass("h", 16, 2 ** 31 - 1);
    expect(reason(result.outcome)).toBe("memory_out_of_bounds");
  });

  const ptrArb = fc.oneof(fc.nat({ max: MEMORY_BYTES + 10 }), fc.constant(16), fc.nat({ max: 2 ** 32 - 1 }));
  const lenArb = fc.oneof(
    fc.nat({ max: 2 * CAP }),
    fc.nat({ max: MEMORY_BYTES }),
    fc.nat({ max: 2 ** 32 - 1 }),
  );

  it("crash every import given a range outside memory; an in-bounds host-call payload over the cap is a host error", async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom("h", "l", "e", "r"), ptrArb, lenArb, async (op, ptr, len) => {
        const result = await pass(op, ptr, len);
        if (ptr + len > MEMORY_BYTES) {
          expect(reason(result.outcome)).toBe("memory_out_of_bounds");
        } else if (op === "h") {
          expect(reason(result.outcome)).toBe("ok");
          // 1: the call went through; 0: refused (RESOURCE_EXHAUSTED), the guest goes on.
          const answer = result.response!;
          expect(new DataView(answer.buffer, answer.byteOffset, 4).getInt32(0, true)).toBe(len > CAP ? 0 : 1);
        } else if (op === "r" && len > CAP) {
          expect(reason(result.outcome)).toBe("host_error");
        } else {
          expect(reason(result.outcome)).toBe("ok");
        }
      }),
      { numRuns: 60 },
    );
  });
});

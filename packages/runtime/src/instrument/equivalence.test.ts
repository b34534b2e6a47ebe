import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { wat } from "../test-support/wat.js";
import { compileModule, instrumented, MeteredInstance } from "./test-harness.js";

/** A tiny i32 expression language whose programs always terminate. */
type Expr =
  | { k: "const"; v: number }
  | { k: "param"; i: 0 | 1 }
  | { k: "binary"; op: string; a: Expr; b: Expr }
  | { k: "if"; c: Expr; a: Expr; b: Expr }
  | { k: "call"; a: Expr }
  | { k: "loop"; times: number; init: Expr; step: Expr }
  | { k: "grow"; a: Expr };

const BINARY = ["i32.add", "i32.sub", "i32.mul", "i32.xor", "i32.and", "i32.rotl", "i32.lt_u"];

const { expr } = fc.letrec<{ expr: Expr }>((tie) => ({
  expr: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.integer().map((v): Expr => ({ k: "const", v })),
    fc.constantFrom<0 | 1>(0, 1).map((i): Expr => ({ k: "param", i })),
    fc.record({
      k: fc.constant("binary" as const),
      op: fc.constantFrom(...BINARY),
      a: tie("expr"),
      b: tie("expr"),
    }),
    fc.record({ k: fc.constant("if" as const), c: tie("expr"), a: tie("expr"), b: tie("expr") }),
    fc.record({ k: fc.constant("call" as const), a: tie("expr") }),
    fc.record({
      k: fc.constant("loop" as const),
      times: fc.integer({ min: 1, max: 4 }),
      init: tie("expr"),
      step: tie("expr"),
    }),
    fc.record({ k: fc.constant("grow" as const), a: tie("expr") }),
  ),
}));

/** Renders a program; each loop gets a counter and an accumulator local of its own. */
function render(root: Expr): string {
  let loops = 0;
  const go = (e: Expr): string => {
    switch (e.k) {
      case "const":
        return `(i32.const ${e.v})`;
      case "param":
        return `(local.get ${e.i})`;
      case "binary":
        return `(${e.op} ${go(e.a)} ${go(e.b)})`;
      case "if":
        return `(if (result i32) ${go(e.c)} (then ${go(e.a)}) (else ${go(e.b)}))`;
      case "call":
        return `(call $helper ${go(e.a)})`;
      case "grow":
        // Grows by 0 or 1 page; the answer is the size before, or -1 past the maximum.
        return `(memory.grow (i32.and ${go(e.a)} (i32.const 1)))`;
      case "loop": {
        const n = loops++;
        return `(block (result i32)
          (local.set $i${n} (i32.const 0))
          (local.set $acc${n} ${go(e.init)})
          (loop $l${n}
            (local.set $acc${n} (i32.add (local.get $acc${n}) ${go(e.step)}))
            (local.set $i${n} (i32.add (local.get $i${n}) (i32.const 1)))
            (br_if $l${n} (i32.lt_u (local.get $i${n}) (i32.const ${e.times}))))
          (local.get $acc${n}))`;
      }
    }
  };
  const body = go(root);
  const locals = Array.from({ length: loops }, (_, n) => `(local $i${n} i32) (local $acc${n} i32)`).join(" ");
  return `(module (memory 1 4)
    (func $helper (param i32) (result i32) (i32.add (i32.mul (local.get 0) (i32.const 3)) (i32.const 1)))
    (func (export "run") (param i32 i32) (result i32) ${locals} ${body})
    (func (export "pages") (result i32) (memory.size)))`;
}

describe("instrumented programs", () => {
  it("compute what the original computes, for generated programs and inputs", async () => {
    await fc.assert(
      fc.asyncProperty(expr, fc.integer(), fc.integer(), async (program, x, y) => {
        const source = await wat(render(program));
        const original = new WebAssembly.Instance(compileModule(source)).exports as Record<
          string,
          CallableFunction
        >;
        const output = instrumented(source, 4);
        const first = new MeteredInstance(output);
        const second = new MeteredInstance(output);
        const a = first.measure(() => first.call("run", x, y));
        expect(a.result).toBe(original.run!(x, y));
        expect(first.call("pages")).toBe(original.pages!());
        // Same program, same input, same fuel.
        expect(second.measure(() => second.call("run", x, y)).fuel).toBe(a.fuel);
        expect(a.fuel).toBeGreaterThan(0n);
      }),
      { numRuns: 150 },
    );
  });
});

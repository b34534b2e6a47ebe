import { existsSync, readFileSync } from "node:fs";
import createPlugin from "@extism/extism";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CompiledModule, Runtime } from "../runtime.js";

/**
 * The same plugins under wasmatrix and under @extism/extism (the reference host): the C plugin
 * of examples/extism and one built on the published AssemblyScript PDK (@extism/as-pdk) give the
 * same outputs and the same errors for the same calls.
 */
const build = new URL("../../../../examples/build/", import.meta.url);
const C_PLUGIN = new URL("extism_plugin.wasm", build);
const AS_PLUGIN = new URL("extism_as_plugin.wasm", build);
const built = existsSync(C_PLUGIN) && existsSync(AS_PLUGIN);
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const CONFIG = { greeting: "hi there" };

type Answer = { output: string } | { error: string };

/** Calls in order, one plugin instance per host, so vars carry from one call to the next. */
const CALLS: [string, string][] = [
  ["greet", "world"],
  ["count", ""],
  ["count", ""],
  ["config", "greeting"],
  ["config", "absent"],
];

describe.skipIf(!built)("Extism plugins beside the reference host", () => {
  const runtime = new Runtime({ workers: 1 });
  const compiled: Record<string, CompiledModule> = {};
  let seq = 0;

  beforeAll(async () => {
    compiled["c"] = await runtime.compile(readFileSync(C_PLUGIN));
    compiled["as"] = await runtime.compile(readFileSync(AS_PLUGIN));
  });
  afterAll(() => runtime.close());

  async function ours(which: string, calls: [string, string][]): Promise<Answer[]> {
    const instance = await runtime.instantiate(compiled[which]!, {
      instanceId: `reference-${++seq}`,
      extism: { config: CONFIG },
    });
    const answers: Answer[] = [];
    for (const [fn, input] of calls) {
      const result = await instance.invoke(fn, encoder.encode(input));
      expect(result.outcome.status).toBe("ok");
      answers.push(
        result.guestError === undefined
          ? { output: decoder.decode(result.response) }
          : { error: result.guestError },
      );
    }
    await instance.dispose();
    return answers;
  }

  async function theirs(path: URL, calls: [string, string][]): Promise<Answer[]> {
    const plugin = await createPlugin(
      { wasm: [{ data: readFileSync(path) }] },
      { useWasi: false, runInWorker: false, config: CONFIG },
    );
    const answers: Answer[] = [];
    for (const [fn, input] of calls) {
      try {
        const output = await plugin.call(fn, input);
        answers.push({ output: output === null ? "" : output.text() });
      } catch (error) {
        answers.push({ error: (error as Error).message.replace(/^Plugin-originated error: /, "") });
      }
    }
    await plugin.close();
    return answers;
  }

  it("answers the C plugin's calls as @extism/extism does", async () => {
    const calls: [string, string][] = [
      ...CALLS,
      ["greet", "ünïcödé"],
      ["fail", ""],
      ["echo", "x".repeat(1000)],
    ];
    const expected = await theirs(C_PLUGIN, calls);
    expect(expected[1]).toEqual({ output: "1" });
    expect(await ours("c", calls)).toEqual(expected);
  });

  it("fails a call whose function returns non-zero, as Extism's runtime does and the JS SDK does not", async () => {
    // @extism/extism 1.0.3 ignores the return code; Extism's own runtime makes it the call's error.
    expect(await theirs(C_PLUGIN, [["fail_code", ""]])).toEqual([{ output: "" }]);
    expect(await ours("c", [["fail_code", ""]])).toEqual([{ error: "plugin function returned 7" }]);
  });

  // Not non-ASCII input: @extism/as-pdk 1.0.0's outputString sizes its block in UTF-16 units and
  // writes UTF-8 past it, which fails under either host (docs/extism.md).
  it("answers the AssemblyScript PDK plugin's calls as @extism/extism does", async () => {
    const expected = await theirs(AS_PLUGIN, CALLS);
    expect(expected[0]).toEqual({ output: "Hello, world!" });
    expect(await ours("as", CALLS)).toEqual(expected);
  });

  it("logs the AssemblyScript plugin's lines and turns its abort into the call's error", async () => {
    const instance = await runtime.instantiate(compiled["as"]!, {
      instanceId: "as-log",
      extism: { config: {} },
    });
    expect(decoder.decode((await instance.invoke("log", new Uint8Array(0))).response)).toBe("logged");
    const failed = await instance.invoke("fail", new Uint8Array(0));
    // The abort sets the error and then traps: the call crashes, with the PDK's message kept.
    expect(failed.outcome.status).toBe("crashed");
    const end = Date.now() + 10_000;
    while (!instance.stderr.text().includes("[info] from AssemblyScript") && Date.now() < end) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(instance.stderr.text()).toContain("[info] from AssemblyScript");
    await instance.dispose();
  });
});

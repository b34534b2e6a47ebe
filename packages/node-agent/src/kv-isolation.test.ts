import { parsePermission } from "@wasmatrix/core";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NodeAgent } from "./agent.js";
import { capabilityCall, guests } from "./test-support/guests.js";

const decoder = new TextDecoder();
const permissions = ["kv:read", "kv:write", "kv:list"].map((p) => parsePermission(p));

describe("keyvalue isolation", () => {
  let agent: NodeAgent;
  let module: Uint8Array;

  beforeAll(async () => {
    agent = new NodeAgent({ nodeId: "iso", runtime: { workers: 1 } });
    module = await guests.proxy();
  });
  afterAll(() => agent.close(200));

  async function call(id: string, binding: string, operation: string, payload: unknown): Promise<string> {
    const result = await agent.invoke(
      id,
      "call",
      capabilityCall(binding, "wasmatrix:keyvalue", operation, payload),
    );
    if (result.guestError !== undefined) throw new Error(result.guestError);
    return decoder.decode(result.response ?? new Uint8Array());
  }

  it("lets two instances see each other's keys only through a shared named binding", async () => {
    let run = 0;
    const binding = fc.constantFrom("default", "shared", "other");
    await fc.assert(
      fc.asyncProperty(
        binding,
        binding,
        fc.uniqueArray(fc.stringMatching(/^[a-z0-9]{1,8}$/), { minLength: 1, maxLength: 5 }),
        async (bindingA, bindingB, keys) => {
          run++;
          const a = `a-${run}`;
          const b = `b-${run}`;
          // A fresh prefix per run keeps named bindings, which outlive instances, from leaking between runs.
          const prefix = `r${run}-`;
          await agent.start({
            instanceId: a,
            module,
            assignments: [{ capability: "keyvalue", provider: "local", binding: bindingA, permissions }],
          });
          await agent.start({
            instanceId: b,
            module,
            assignments: [{ capability: "keyvalue", provider: "local", binding: bindingB, permissions }],
          });
          try {
            for (const key of keys) await call(a, bindingA, "set", { key: prefix + key, value: `from-${a}` });
            const shared = bindingA === bindingB && bindingA !== "default";
            const seen = JSON.parse(await call(b, bindingB, "list", { prefix })) as string[];
            expect(seen).toEqual(shared ? keys.map((k) => prefix + k).sort() : []);
            for (const key of keys) {
              expect(await call(b, bindingB, "exists", { key: prefix + key })).toBe(
                shared ? "true" : "false",
              );
            }
          } finally {
            await agent.stop(a, 100);
            await agent.stop(b, 100);
          }
        },
      ),
      { numRuns: 100 },
    );
  }, 120_000);
});

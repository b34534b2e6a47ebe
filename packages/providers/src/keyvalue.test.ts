import { ErrorCode } from "@wasmatrix/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MemoryKeyvalueProvider } from "./keyvalue.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const json = (value: unknown) => encoder.encode(JSON.stringify(value));

describe("in-memory keyvalue", () => {
  it("gets, sets, increments, lists by prefix and deletes", () => {
    const kv = new MemoryKeyvalueProvider();
    const run = (op: string, payload: unknown) => decoder.decode(kv.handleSync("s", op, json(payload)));
    expect(run("get", { key: "a" })).toBe("");
    expect(run("exists", { key: "a" })).toBe("false");
    run("set", { key: "a", value: "1" });
    run("set", { key: "ab", value: "2" });
    run("set", { key: "b", value: "3" });
    expect(run("get", { key: "a" })).toBe("1");
    expect(run("increment", { key: "a", by: 41 })).toBe("42");
    expect(run("increment", { key: "new" })).toBe("1");
    expect(JSON.parse(run("list", { prefix: "a" }))).toEqual(["a", "ab"]);
    expect(run("delete", { key: "a" })).toBe("true");
    expect(run("delete", { key: "a" })).toBe("false");
    expect(kv.stats.keys).toBe(3);
  });

  it("names the permission each operation needs and refuses unknown operations", () => {
    const kv = new MemoryKeyvalueProvider();
    expect(kv.required("get")).toEqual({ kind: "kv", action: "read" });
    expect(kv.required("increment")).toEqual({ kind: "kv", action: "write" });
    expect(kv.required("delete")).toEqual({ kind: "kv", action: "delete" });
    expect(kv.required("list")).toEqual({ kind: "kv", action: "list" });
    expect(() => kv.required("drop")).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_REQUEST }));
  });

  it("refuses bad payloads, non-integer increments and anything past its limits", () => {
    const kv = new MemoryKeyvalueProvider({ maxKeysPerScope: 2, maxValueBytes: 4, maxTotalBytes: 1_000 });
    const run = (op: string, payload: Uint8Array) => () => kv.handleSync("s", op, payload);
    expect(run("get", encoder.encode("not json"))).toThrow(
      expect.objectContaining({ code: ErrorCode.INVALID_REQUEST }),
    );
    expect(run("get", json({ key: "" }))).toThrow(
      expect.objectContaining({ code: ErrorCode.INVALID_REQUEST }),
    );
    expect(run("set", json({ key: "k", value: "too long" }))).toThrow(
      expect.objectContaining({ code: ErrorCode.RESOURCE_EXHAUSTED }),
    );
    kv.handleSync("s", "set", json({ key: "t", value: "text" }));
    expect(run("increment", json({ key: "t" }))).toThrow(
      expect.objectContaining({ code: ErrorCode.INVALID_REQUEST }),
    );
    kv.handleSync("s", "set", json({ key: "u", value: "1" }));
    expect(run("set", json({ key: "v", value: "1" }))).toThrow(
      expect.objectContaining({ code: ErrorCode.RESOURCE_EXHAUSTED }),
    );
    // Another scope has its own key budget.
    kv.handleSync("other", "set", json({ key: "v", value: "1" }));
  });

  it("refuses a valueBase64 that is not base64 and stores nothing, where it used to store garbage", () => {
    const kv = new MemoryKeyvalueProvider();
    for (const valueBase64 of ["!!!notbase64", "aGVsbG8=x", "a", "a===", "aGVs bG8="]) {
      expect(() => kv.handleSync("s", "set", json({ key: "k", valueBase64 })), valueBase64).toThrow(
        expect.objectContaining({ code: ErrorCode.INVALID_REQUEST, details: { field: "valueBase64" } }),
      );
    }
    expect(kv.stats.keys).toBe(0);
    kv.handleSync("s", "set", json({ key: "k", valueBase64: "aGVsbG8=" }));
    kv.handleSync("s", "set", json({ key: "u", valueBase64: "aGVsbG8" }));
    expect(decoder.decode(kv.handleSync("s", "get", json({ key: "k" })))).toBe("hello");
    expect(decoder.decode(kv.handleSync("s", "get", json({ key: "u" })))).toBe("hello");
  });

  it("stores exactly the bytes of any base64 value, padded or not", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.boolean(), (bytes, padded) => {
        const kv = new MemoryKeyvalueProvider();
        const base64 = Buffer.from(bytes).toString("base64");
        const valueBase64 = padded ? base64 : base64.replace(/=+$/, "");
        kv.handleSync("s", "set", json({ key: "k", valueBase64 }));
        expect(kv.handleSync("s", "get", json({ key: "k" }))).toEqual(bytes);
      }),
    );
  });

  it("keeps scopes apart and its byte count equal to what it holds", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            scope: fc.constantFrom("a", "b"),
            op: fc.constantFrom("set", "delete"),
            key: fc.stringMatching(/^[a-c]{1,2}$/),
            value: fc.string({ maxLength: 8 }),
          }),
          { maxLength: 40 },
        ),
        (ops) => {
          const kv = new MemoryKeyvalueProvider();
          const model = new Map<string, Map<string, string>>([
            ["a", new Map()],
            ["b", new Map()],
          ]);
          for (const { scope, op, key, value } of ops) {
            kv.handleSync(scope, op, json({ key, value }));
            if (op === "set") model.get(scope)!.set(key, value);
            else model.get(scope)!.delete(key);
          }
          let bytes = 0;
          for (const [scope, entries] of model) {
            expect(kv.keys(scope)).toEqual([...entries.keys()].sort());
            for (const [key, value] of entries) {
              expect(decoder.decode(kv.handleSync(scope, "get", json({ key })))).toBe(value);
              bytes += key.length + encoder.encode(value).byteLength;
            }
          }
          expect(kv.stats.bytes).toBe(bytes);
        },
      ),
      { numRuns: 200 },
    );
  });
});

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ExtismHost } from "./extism.js";

/**
 * The host functions driven directly, as a PDK would call them, without a Wasm module: what goes
 * in through input, config and vars comes out byte for byte, whatever the bytes.
 */
type Imports = Record<string, (...args: never[]) => unknown>;

function host(config: Record<string, string> = {}, maxVarBytes?: number): ExtismHost {
  return new ExtismHost({
    config,
    ...(maxVarBytes === undefined ? {} : { maxVarBytes }),
    maxKernelBytes: 1024 * 1024,
    maxPayloadBytes: 1024 * 1024,
    hostCall: () => {
      throw new Error("no host calls here");
    },
    log: () => undefined,
  });
}

const call = (imports: Imports, name: string, ...args: unknown[]) =>
  (imports[name] as (...a: unknown[]) => unknown)(...args);

/** A PDK's copy of bytes into a new kernel block, 8 bytes at a time and then one by one. */
function storeBlock(imports: Imports, bytes: Uint8Array): bigint {
  const offset = call(imports, "alloc", BigInt(bytes.byteLength)) as bigint;
  let i = 0;
  for (; i + 8 <= bytes.byteLength; i += 8) {
    const word = new DataView(bytes.buffer, bytes.byteOffset + i, 8).getBigUint64(0, true);
    call(imports, "store_u64", offset + BigInt(i), word);
  }
  for (; i < bytes.byteLength; i++) call(imports, "store_u8", offset + BigInt(i), bytes[i]);
  return offset;
}

function loadBlock(imports: Imports, offset: bigint): Uint8Array {
  const length = Number(call(imports, "length", offset) as bigint);
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = call(imports, "load_u8", offset + BigInt(i)) as number;
  return out;
}

const encoder = new TextEncoder();

describe("Extism host functions", () => {
  it("echoes any input through input_load_u64/u8 and output_set byte for byte", () => {
    const h = host();
    const imports = h.imports as Imports;
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (input) => {
        const result = h.invoke(() => {
          const length = Number(call(imports, "input_length") as bigint);
          const copy = new Uint8Array(length);
          let i = 0;
          for (; i + 8 <= length; i += 8) {
            new DataView(copy.buffer).setBigUint64(
              i,
              call(imports, "input_load_u64", BigInt(i)) as bigint,
              true,
            );
          }
          for (; i < length; i++) copy[i] = call(imports, "input_load_u8", BigInt(i)) as number;
          call(imports, "output_set", storeBlock(imports, copy), BigInt(length));
          return 0;
        }, input);
        expect(result).toEqual({ ok: true, response: input });
      }),
    );
  });

  it("hands back every config value exactly, and 0 for a key it lacks", () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ minLength: 1 }), fc.string()), fc.string(), (config, absent) => {
        fc.pre(!(absent in config));
        const h = host(config);
        const imports = h.imports as Imports;
        h.invoke(() => {
          for (const [key, value] of Object.entries(config)) {
            const offset = call(imports, "config_get", storeBlock(imports, encoder.encode(key))) as bigint;
            expect(loadBlock(imports, offset)).toEqual(encoder.encode(value));
          }
          for (const missing of [absent, "toString", "__proto__", "constructor"]) {
            if (Object.hasOwn(config, missing)) continue;
            expect(call(imports, "config_get", storeBlock(imports, encoder.encode(missing)))).toBe(0n);
          }
          return 0;
        }, new Uint8Array(0));
      }),
    );
  });

  it("keeps vars across calls, removes one set to 0, and refuses to pass the var cap", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.string({ maxLength: 8 }), fc.uint8Array({ maxLength: 64 }))),
        (sets) => {
          const h = host({}, 256);
          const imports = h.imports as Imports;
          const model = new Map<string, Uint8Array>();
          for (const [name, value] of sets) {
            const result = h.invoke(() => {
              call(imports, "var_set", storeBlock(imports, encoder.encode(name)), storeBlock(imports, value));
              return 0;
            }, new Uint8Array(0));
            const total = [...model].reduce((n, [k, v]) => n + (k === name ? 0 : v.byteLength), 0);
            if (total + value.byteLength > 256) {
              expect(result).toMatchObject({ ok: false, guestError: expect.stringContaining("cap of 256") });
            } else {
              expect(result.ok).toBe(true);
              model.set(name, value);
            }
          }
          h.invoke(() => {
            for (const [name, value] of model) {
              const offset = call(imports, "var_get", storeBlock(imports, encoder.encode(name))) as bigint;
              expect(loadBlock(imports, offset)).toEqual(value);
              call(imports, "var_set", storeBlock(imports, encoder.encode(name)), 0n);
              expect(call(imports, "var_get", storeBlock(imports, encoder.encode(name)))).toBe(0n);
            }
            return 0;
          }, new Uint8Array(0));
        },
      ),
    );
  });
});

describe("Extism http_request", () => {
  it("sends the request and body as a wasmatrix:http call and hands back body, status and headers", () => {
    const sent: unknown[] = [];
    const h = new ExtismHost({
      config: {},
      maxKernelBytes: 1024 * 1024,
      maxPayloadBytes: 1024 * 1024,
      hostCall: (request) => {
        sent.push({ ...request, payload: JSON.parse(new TextDecoder().decode(request.payload)) });
        return {
          ok: true,
          data: encoder.encode(JSON.stringify({ status: 404, headers: { "x-a": "b" }, body: "not here" })),
        };
      },
      log: () => undefined,
    });
    const imports = h.imports as Imports;
    const result = h.invoke(() => {
      const request = encoder.encode(
        JSON.stringify({ url: "https://example.com/x", method: "POST", headers: { k: "v" } }),
      );
      const body = storeBlock(imports, encoder.encode("payload"));
      const response = call(imports, "http_request", storeBlock(imports, request), body) as bigint;
      expect(new TextDecoder().decode(loadBlock(imports, response))).toBe("not here");
      expect(call(imports, "http_status_code")).toBe(404);
      const headers = loadBlock(imports, call(imports, "http_headers") as bigint);
      expect(JSON.parse(new TextDecoder().decode(headers))).toEqual({ "x-a": "b" });
      return 0;
    }, new Uint8Array(0));
    expect(result.ok).toBe(true);
    expect(h.hostCalls).toBe(1);
    expect(sent).toEqual([
      {
        binding: "default",
        namespace: "wasmatrix:http",
        operation: "request",
        payload: {
          url: "https://example.com/x",
          method: "POST",
          headers: { k: "v" },
          bodyBase64: Buffer.from("payload").toString("base64"),
        },
      },
    ]);
  });

  it("fails the call, not the plugin, when the capability refuses or the request is not JSON", () => {
    const h = new ExtismHost({
      config: {},
      maxKernelBytes: 1024 * 1024,
      maxPayloadBytes: 1024 * 1024,
      hostCall: () => ({
        ok: false,
        error: { code: "PROVIDER_UNAVAILABLE", message: "connection refused", details: {}, timestamp: 0 },
      }),
      log: () => undefined,
    });
    const imports = h.imports as Imports;
    const request = (text: string) => () => {
      call(imports, "http_request", storeBlock(imports, encoder.encode(text)), 0n);
      return 0;
    };
    expect(h.invoke(request('{"url":"https://example.com/"}'), new Uint8Array(0))).toEqual({
      ok: false,
      guestError: "http_request failed: PROVIDER_UNAVAILABLE: connection refused",
    });
    expect(h.invoke(request("not json"), new Uint8Array(0))).toMatchObject({
      ok: false,
      guestError: expect.stringContaining("not the JSON object"),
    });
  });
});

import { ErrorCode } from "@wasmatrix/core";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type NatsServer, startNats } from "../../../test/support/nats.js";
import { decodeKey, encodeKey, JetStreamKeyvalueProvider } from "./jetstream-keyvalue.js";
import { MemoryKeyvalueProvider } from "./keyvalue.js";
import { providerCall as call } from "./test-support/provider-call.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The answer as text, or the error's code: what a guest can tell apart. */
async function answer(run: () => Promise<Uint8Array> | Uint8Array): Promise<string> {
  try {
    return decoder.decode(await run());
  } catch (error) {
    return `error:${(error as { code?: string }).code}`;
  }
}

describe("keyvalue key encoding", () => {
  it("round-trips any text through a NATS-safe key and keeps prefixes as prefixes", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: "grapheme", minLength: 1 }),
        fc.string({ unit: "grapheme" }),
        (key, tail) => {
          const encoded = encodeKey(key);
          expect(encoded).toMatch(/^[A-Za-z0-9_\-/=]+$/);
          expect(decodeKey(encoded)).toBe(key);
          expect(encodeKey(key + tail).startsWith(encoded)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("JetStream keyvalue on a real nats-server", () => {
  let server: NatsServer;
  let kv: JetStreamKeyvalueProvider;
  const memory = new MemoryKeyvalueProvider();

  beforeAll(async () => {
    server = await startNats({ jetstream: true });
    kv = new JetStreamKeyvalueProvider({
      nats: { servers: server.url, unavailableAfterMs: 500, reconnectTimeWaitMs: 100 },
    });
  });
  afterAll(async () => {
    await kv.close();
    await server.stop();
  });

  it("names buckets with NATS-safe characters only, one per scope", () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (a, b) => {
        expect(kv.bucketName(a)).toMatch(/^[A-Za-z0-9_-]+$/);
        if (a !== b) expect(kv.bucketName(a)).not.toBe(kv.bucketName(b));
      }),
      { numRuns: 300 },
    );
    // Scopes that a naive character replacement would merge stay apart.
    expect(kv.bucketName("instance/a.b")).not.toBe(kv.bucketName("instance/a_b"));
  });

  it("answers every operation exactly as the in-memory keyvalue does", async () => {
    const key = fc.constantFrom("a", "b", "n", "a.b", "x y", "ü", "k/1");
    const op = fc.oneof(
      key.map((k) => ["get", { key: k }] as const),
      key.map((k) => ["exists", { key: k }] as const),
      fc
        .tuple(key, fc.constantFrom("1", "-7", "text", ""))
        .map(([k, v]) => ["set", { key: k, value: v }] as const),
      fc.tuple(key, fc.integer({ min: -5, max: 5 })).map(([k, by]) => ["increment", { key: k, by }] as const),
      key.map((k) => ["increment", { key: k }] as const),
      key.map((k) => ["delete", { key: k }] as const),
      fc.constantFrom("", "a", "k/", "x").map((prefix) => ["list", { prefix }] as const),
      fc.constantFrom(
        ["get", { key: "" }] as const,
        ["set", { key: "k" }] as const,
        ["increment", { key: "k", by: 1.5 }] as const,
      ),
    );
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25 }), async (ops) => {
        const scope = `model/${run++}`;
        for (const [operation, payload] of ops) {
          const expected = await answer(() =>
            memory.handleSync(scope, operation, encoder.encode(JSON.stringify(payload))),
          );
          const actual = await answer(() => kv.handle(call(scope, operation, payload)));
          expect(actual, `${operation} ${JSON.stringify(payload)}`).toBe(expected);
        }
      }),
      { numRuns: 30 },
    );
  }, 60_000);

  it("keeps scopes apart: keys written in one are never seen from another", async () => {
    // Scopes chosen so that their readable parts collide; the buckets must not.
    const scopes = ["instance/a.b", "instance/a_b", "instance/a-b", "binding/shared", "binding/shared/"];
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...scopes),
        fc.constantFrom(...scopes),
        fc.uniqueArray(fc.stringMatching(/^[a-z0-9.]{1,8}$/), { minLength: 1, maxLength: 4 }),
        async (a, b, keys) => {
          const prefix = `r${run++}-`;
          for (const key of keys) await kv.handle(call(a, "set", { key: prefix + key, value: a }));
          const seen = JSON.parse(decoder.decode(await kv.handle(call(b, "list", { prefix }))));
          expect(seen).toEqual(a === b ? keys.map((k) => prefix + k).sort() : []);
          for (const key of keys) {
            const value = decoder.decode(await kv.handle(call(b, "get", { key: prefix + key })));
            expect(value).toBe(a === b ? a : "");
          }
        },
      ),
      { numRuns: 100 },
    );
  }, 60_000);

  it("increments atomically when two nodes race on one key", async () => {
    const other = new JetStreamKeyvalueProvider({ nats: { servers: server.url } });
    try {
      const bump = (p: JetStreamKeyvalueProvider) =>
        Promise.all(
          Array.from({ length: 50 }, () => p.handle(call("binding/counter", "increment", { key: "hits" }))),
        );
      const answers = [...(await bump(kv)), ...(await Promise.all([bump(kv), bump(other)])).flat()];
      const values = answers.map((a) => Number(decoder.decode(a))).sort((x, y) => x - y);
      // Every increment saw a distinct value: none was lost, none applied twice.
      expect(values).toEqual(Array.from({ length: 150 }, (_, i) => i + 1));
      expect(decoder.decode(await other.handle(call("binding/counter", "get", { key: "hits" })))).toBe("150");
    } finally {
      await other.close();
    }
  }, 30_000);

  it("keeps data across a nats-server restart and for a new provider (a node agent restart)", async () => {
    await kv.handle(call("instance/durable", "set", { key: "greeting", value: "hello" }));
    await kv.handle(call("instance/durable", "increment", { key: "n", by: 41 }));
    await server.restart();
    const again = async (operation: string, payload: unknown, p = kv) => {
      for (;;) {
        try {
          return decoder.decode(await p.handle(call("instance/durable", operation, payload)));
        } catch (error) {
          if ((error as { code?: string }).code !== ErrorCode.PROVIDER_UNAVAILABLE) throw error;
        }
      }
    };
    expect(await again("get", { key: "greeting" })).toBe("hello");
    expect(await again("increment", { key: "n" })).toBe("42");
    const fresh = new JetStreamKeyvalueProvider({ nats: { servers: server.url } });
    try {
      expect(await again("list", {}, fresh)).toBe('["greeting","n"]');
    } finally {
      await fresh.close();
    }
  }, 30_000);

  it("makes a scope's bucket again when its stream has gone", async () => {
    await kv.handle(call("instance/gone", "set", { key: "k", value: "old" }));
    const jsm = await (await kv.link.connection()).jetstreamManager();
    await jsm.streams.delete(`KV_${kv.bucketName("instance/gone")}`);
    expect(decoder.decode(await kv.handle(call("instance/gone", "get", { key: "k" })))).toBe("");
    await kv.handle(call("instance/gone", "set", { key: "k", value: "new" }));
    expect(decoder.decode(await kv.handle(call("instance/gone", "get", { key: "k" })))).toBe("new");
  });

  it("fails with PROVIDER_UNAVAILABLE within its bound while NATS is down, INVALID_REQUEST at once for bad requests", async () => {
    const restarting = server.restart(1_500);
    const deadline = Date.now() + 5_000;
    while (kv.link.connected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const started = Date.now();
    await expect(kv.handle(call("instance/down", "get", { key: "k" }))).rejects.toMatchObject({
      code: ErrorCode.PROVIDER_UNAVAILABLE,
    });
    expect(Date.now() - started).toBeLessThan(1_400);
    await expect(kv.handle(call("instance/down", "get", { key: "" }))).rejects.toMatchObject({
      code: ErrorCode.INVALID_REQUEST,
    });
    await restarting;
  }, 30_000);
});

import { ErrorCode } from "@wasmatrix/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type NatsServer, startNats } from "../../../test/support/nats.js";
import { JetStreamKeyvalueProvider } from "./jetstream-keyvalue.js";
import type { ProviderCall } from "./provider.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function call(scope: string, operation: string, payload: unknown, remainingMs = 10_000): ProviderCall {
  return {
    instanceId: "i",
    binding: "default",
    operation,
    payload: encoder.encode(JSON.stringify(payload)),
    scope,
    remainingMs,
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** The error's code, or "ok". */
async function outcome(run: Promise<unknown>): Promise<string> {
  try {
    await run;
    return "ok";
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
}

describe("keyvalue writes across a nats-server crash", () => {
  let server: NatsServer;
  let kv: JetStreamKeyvalueProvider;
  const UNAVAILABLE_AFTER_MS = 1_500;

  beforeAll(async () => {
    server = await startNats({ jetstream: true });
    kv = new JetStreamKeyvalueProvider({
      nats: { servers: server.url, unavailableAfterMs: UNAVAILABLE_AFTER_MS, reconnectTimeWaitMs: 50 },
    });
  });
  afterAll(async () => {
    await kv.close();
    await server.stop();
  });

  /** Reads a key once NATS answers again. */
  async function read(scope: string, key: string): Promise<string> {
    for (;;) {
      try {
        return decoder.decode(await kv.handle(call(scope, "get", { key })));
      } catch (error) {
        if ((error as { code?: string }).code !== ErrorCode.PROVIDER_UNAVAILABLE) throw error;
      }
    }
  }

  it("never applies an increment it refused, even when NATS comes back while the call still waited for it", async () => {
    const scope = "instance/refused";
    expect(decoder.decode(await kv.handle(call(scope, "increment", { key: "n" })))).toBe("1");
    await server.kill();
    await until(() => !kv.link.connected, "the provider to notice the crash");
    // Joins the outage late: the link gives up on it when the outage is UNAVAILABLE_AFTER_MS old,
    // before the call's own wait for a reconnection is over, and NATS is back within that wait.
    await sleep(UNAVAILABLE_AFTER_MS - 500);
    const refused = kv.handle(call(scope, "increment", { key: "n" }));
    expect(await outcome(refused)).toBe(ErrorCode.PROVIDER_UNAVAILABLE);
    await server.start();
    expect(await read(scope, "n")).toBe("1");
    // Whatever the refused call had left to do would have been done by now.
    await sleep(UNAVAILABLE_AFTER_MS);
    expect(await read(scope, "n")).toBe("1");
    // The guest retries, as the refusal told it to: counted once.
    expect(decoder.decode(await kv.handle(call(scope, "increment", { key: "n" })))).toBe("2");
  }, 30_000);
});

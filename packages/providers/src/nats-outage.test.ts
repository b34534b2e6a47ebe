import { ErrorCode } from "@wasmatrix/core";
import fc from "fast-check";
import { connect, type NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type NatsServer, startNats } from "../../../test/support/nats.js";
import { JetStreamKeyvalueProvider } from "./jetstream-keyvalue.js";
import { MessagingProvider } from "./messaging.js";
import { providerCall as call } from "./test-support/provider-call.js";

const decoder = new TextDecoder();

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

/**
 * Reads a key once NATS answers again. A read is safe to repeat; after a crash JetStream may
 * take a moment to answer (TIMEOUT) once the server accepts connections.
 */
async function read(kv: JetStreamKeyvalueProvider, scope: string, key: string): Promise<string> {
  for (;;) {
    try {
      return decoder.decode(await kv.handle(call(scope, "get", { key })));
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code !== ErrorCode.PROVIDER_UNAVAILABLE && code !== ErrorCode.TIMEOUT) throw error;
    }
  }
}

/** What a guest can be told about a write while NATS crashes: anything else is a bug. */
const OUTCOMES = ["ok", ErrorCode.OUTCOME_UNKNOWN, ErrorCode.PROVIDER_UNAVAILABLE, ErrorCode.TIMEOUT];

/** A step of an outage schedule: start some writes (not waited for), crash NATS, bring it back, pause. */
type Step =
  | { kind: "writes"; count: number }
  | { kind: "kill" }
  | { kind: "start" }
  | { kind: "pause"; ms: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.integer({ min: 1, max: 6 }).map((count) => ({ kind: "writes", count }) as const),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "kill" } as const) },
  { weight: 1, arbitrary: fc.constant({ kind: "start" } as const) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 400 }).map((ms) => ({ kind: "pause", ms }) as const) },
);

/**
 * Runs a schedule: `write(i)` for each write, the i-th of the run. Ends with NATS up and every
 * write answered; returns the answers, in order of `i`.
 */
async function runSchedule(
  server: NatsServer,
  steps: readonly Step[],
  write: (i: number) => Promise<unknown>,
): Promise<{ outcome: string; value: unknown }[]> {
  const pending: Promise<{ outcome: string; value: unknown }>[] = [];
  for (const s of steps) {
    switch (s.kind) {
      case "writes":
        for (let n = 0; n < s.count; n++) {
          const run = write(pending.length);
          pending.push(
            run.then(
              (value) => ({ outcome: "ok", value }),
              (error: unknown) => ({
                outcome: (error as { code?: string }).code ?? String(error),
                value: error,
              }),
            ),
          );
        }
        break;
      case "kill":
        await server.kill();
        break;
      case "start":
        await server.start();
        break;
      case "pause":
        await sleep(s.ms);
        break;
    }
  }
  await server.start();
  return Promise.all(pending);
}

/**
 * A real nats-server with JetStream, and a keyvalue provider on it whose calls give up waiting for
 * a connection after `unavailableAfterMs`: started before the enclosing describe's tests, closed
 * (thawed first, should a test have frozen it) after them.
 */
function keyvalueOnNats(unavailableAfterMs: number): { server: NatsServer; kv: JetStreamKeyvalueProvider } {
  const nats = {} as { server: NatsServer; kv: JetStreamKeyvalueProvider };
  beforeAll(async () => {
    nats.server = await startNats({ jetstream: true });
    nats.kv = new JetStreamKeyvalueProvider({
      nats: { servers: nats.server.url, unavailableAfterMs, reconnectTimeWaitMs: 50 },
    });
  });
  afterAll(async () => {
    nats.server.thaw();
    await nats.kv.close();
    await nats.server.stop();
  });
  return nats;
}

describe("keyvalue writes across a nats-server crash", () => {
  const UNAVAILABLE_AFTER_MS = 1_500;
  const nats = keyvalueOnNats(UNAVAILABLE_AFTER_MS);

  it("never applies an increment it refused, even when NATS comes back while the call still waited for it", async () => {
    const scope = "instance/refused";
    expect(decoder.decode(await nats.kv.handle(call(scope, "increment", { key: "n" })))).toBe("1");
    await nats.server.kill();
    await until(() => !nats.kv.link.connected, "the provider to notice the crash");
    // Joins the outage late: the link gives up on it when the outage is UNAVAILABLE_AFTER_MS old,
    // before the call's own wait for a reconnection is over, and NATS is back within that wait.
    await sleep(UNAVAILABLE_AFTER_MS - 500);
    const refused = nats.kv.handle(call(scope, "increment", { key: "n" }));
    expect(await outcome(refused)).toBe(ErrorCode.PROVIDER_UNAVAILABLE);
    await nats.server.start();
    expect(await read(nats.kv, scope, "n")).toBe("1");
    // Whatever the refused call had left to do would have been done by now.
    await sleep(UNAVAILABLE_AFTER_MS);
    expect(await read(nats.kv, scope, "n")).toBe("1");
    // The guest retries, as the refusal told it to: counted once.
    expect(decoder.decode(await nats.kv.handle(call(scope, "increment", { key: "n" })))).toBe("2");
  }, 30_000);
});

describe("keyvalue writes whose answer is lost", () => {
  const nats = keyvalueOnNats(500);

  it("answers OUTCOME_UNKNOWN for a write sent without an answer, which may indeed take effect", async () => {
    const scope = "instance/frozen";
    await nats.kv.handle(call(scope, "set", { key: "k", value: "before" }));
    await nats.server.freeze();
    try {
      // The write reaches the frozen server's socket; no answer comes within the call's time.
      const lost = nats.kv.handle(call(scope, "set", { key: "k", value: "after" }, 300));
      await expect(lost).rejects.toMatchObject({
        code: ErrorCode.OUTCOME_UNKNOWN,
        message: expect.stringMatching(/may or may not have been applied/),
      });
      // An increment reads first: that read goes unanswered, nothing is written, and it says so.
      const unread = nats.kv.handle(call(scope, "increment", { key: "n" }, 300));
      await expect(unread).rejects.toMatchObject({ code: ErrorCode.TIMEOUT });
    } finally {
      nats.server.thaw();
    }
    // Thawed, the server handles what it was sent: the "unknown" write did happen, the timed-out
    // increment did not.
    expect(await read(nats.kv, scope, "k")).toBe("after");
    expect(await read(nats.kv, scope, "n")).toBe("");
  }, 30_000);
});

describe("a stream of keyvalue increments while nats-server is killed -9", () => {
  const UNAVAILABLE_AFTER_MS = 500;
  const nats = keyvalueOnNats(UNAVAILABLE_AFTER_MS);

  async function settledCount(scope: string): Promise<number> {
    const text = await read(nats.kv, scope, "n");
    return text === "" ? 0 : Number(text);
  }

  /** The final counter against the answers: exact for successes and refusals, bounded by the unknowns. */
  async function checkCounter(scope: string, answers: { outcome: string; value: unknown }[]): Promise<void> {
    for (const a of answers) expect(OUTCOMES, String(a.value)).toContain(a.outcome);
    const successes = answers.filter((a) => a.outcome === "ok");
    const unknown = answers.filter((a) => a.outcome === ErrorCode.OUTCOME_UNKNOWN).length;
    const final = await settledCount(scope);
    // A refused increment left nothing behind that a later moment could still apply.
    await sleep(UNAVAILABLE_AFTER_MS);
    expect(await settledCount(scope)).toBe(final);
    expect(final).toBeGreaterThanOrEqual(successes.length);
    expect(final).toBeLessThanOrEqual(successes.length + unknown);
    // Each success saw a value of its own: none applied twice, none lost.
    const values = successes.map((a) => Number(decoder.decode(a.value as Uint8Array)));
    expect(new Set(values).size).toBe(values.length);
    for (const v of values) expect(v).toBeLessThanOrEqual(final);
  }

  it("ends with the counter at the number of increments that answered success", async () => {
    const scope = "binding/stream";
    // An open stream, as from many guests: one increment every few milliseconds, whether or not
    // the ones before have answered, so that increments keep arriving all through the outage.
    const calls: Promise<{ outcome: string; value: unknown }>[] = [];
    let killed = false;
    const stream = async () => {
      for (let i = 0; i < 150; i++) {
        calls.push(
          nats.kv.handle(call(scope, "increment", { key: "n" }, 3_000)).then(
            (value) => ({ outcome: "ok", value }),
            (error: unknown) => ({
              outcome: (error as { code?: string }).code ?? String(error),
              value: error,
            }),
          ),
        );
        await sleep(15);
      }
    };
    // Down for longer than one of the link's waits, so increments that came early in the outage
    // are refused for certain however slow the machine, and for less than two, so that those that
    // came late are still waiting when NATS comes back: the race in which a refusal used to apply.
    const crash = async () => {
      await until(() => calls.length >= 40, "40 increments before the crash");
      await nats.server.kill();
      killed = true;
      await sleep(UNAVAILABLE_AFTER_MS + 300);
      await nats.server.start();
    };
    await Promise.all([stream(), crash()]);
    const answers = await Promise.all(calls);
    expect(killed).toBe(true);
    // The crash hit the stream: some increments were refused (or lost their answer), most succeeded.
    expect(answers.filter((a) => a.outcome !== "ok").length).toBeGreaterThan(0);
    expect(answers.filter((a) => a.outcome === "ok").length).toBeGreaterThan(40);
    await checkCounter(scope, answers);
  }, 60_000);

  it("keeps the counter between its successes and its unknown outcomes under any schedule of crashes", async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 14 }), async (steps) => {
        const scope = `binding/schedule-${run++}`;
        const answers = await runSchedule(nats.server, steps, () =>
          nats.kv.handle(call(scope, "increment", { key: "n" }, 2_000)),
        );
        await checkCounter(scope, answers);
      }),
      { numRuns: 15 },
    );
  }, 240_000);
});

describe("messaging publish while nats-server crashes or freezes", () => {
  let server: NatsServer;
  let provider: MessagingProvider;
  let raw: NatsConnection;
  const received = new Set<number>();

  beforeAll(async () => {
    server = await startNats({ jetstream: false });
    provider = new MessagingProvider({
      nats: { servers: server.url, unavailableAfterMs: 500, reconnectTimeWaitMs: 50 },
    });
    raw = await connect({ servers: server.url, reconnectTimeWait: 50, maxReconnectAttempts: -1 });
    raw.subscribe("outage.>", { callback: (_e, m) => received.add(Number(decoder.decode(m.data))) });
    await raw.flush();
  });
  afterAll(async () => {
    await provider.close();
    await raw.close();
    await server.stop();
  });

  it("answers OUTCOME_UNKNOWN for a publish the server did not confirm, which may indeed be delivered", async () => {
    await provider.link.connection();
    const before = received.size;
    await server.freeze();
    try {
      const lost = provider.handle(
        call("instance/p", "publish", { subject: "outage.frozen", data: "-1" }, 300),
      );
      await expect(lost).rejects.toMatchObject({ code: ErrorCode.OUTCOME_UNKNOWN });
    } finally {
      server.thaw();
    }
    await until(() => received.has(-1), "the unconfirmed message to arrive");
    expect(received.size).toBe(before + 1);
  });

  it("never delivers a message whose publish it refused, under any schedule of crashes", async () => {
    let run = 0;
    let next = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 14 }), async (steps) => {
        const subject = `outage.${run++}`;
        const first = next;
        const answers = await runSchedule(server, steps, () =>
          provider.handle(call("instance/p", "publish", { subject, data: String(next++) }, 2_000)),
        );
        // Whatever a reconnecting client still held would arrive within this.
        await until(() => raw.info !== undefined && provider.link.connected, "both clients back");
        await raw.flush();
        await sleep(300);
        answers.forEach((a, i) => {
          expect(OUTCOMES, String(a.value)).toContain(a.outcome);
          if (a.outcome === ErrorCode.PROVIDER_UNAVAILABLE || a.outcome === ErrorCode.TIMEOUT) {
            expect(received.has(first + i), `refused message ${first + i} was delivered`).toBe(false);
          }
        });
      }),
      { numRuns: 15 },
    );
  }, 240_000);
});

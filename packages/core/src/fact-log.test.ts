import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ErrorCode, WasmatrixError } from "./errors.js";
import { FactLog, type FactQuery } from "./fact-log.js";
import type { Fact, FactInput, FactKind } from "./facts.js";
import { expectCode } from "./test-support/expect-code.js";

const RUNS = { numRuns: 150 };

const SOURCES = ["node-a", "node-b", "control-plane"];
const INSTANCES = ["inst-1", "inst-2", "inst-3"];
const KINDS: FactKind[] = ["instance.started", "instance.crashed", "instance.restarted", "instance.lost"];

function inputFor(
  kind: FactKind,
  instanceId: string,
  source: string,
  at: number,
  sourceSeq?: number,
): FactInput {
  const base = { source, instanceId, at, ...(sourceSeq === undefined ? {} : { sourceSeq }) };
  switch (kind) {
    case "instance.crashed":
      return { ...base, kind, data: { reason: "unreachable", trap: "wasm trap: unreachable" } };
    case "instance.restarted":
      return { ...base, kind, data: { attempt: 1, delayMs: 100 } };
    default:
      return { ...base, kind: kind as "instance.started" };
  }
}

/** A random append: who, what, when, and whether it relays an explicit sourceSeq (maybe a replay). */
const appendOp = fc.record({
  source: fc.constantFrom(...SOURCES),
  instanceId: fc.constantFrom(...INSTANCES),
  kind: fc.constantFrom(...KINDS),
  at: fc.integer({ min: 0, max: 1000 }),
  // undefined: the log numbers it; a delta: explicit sourceSeq = last + delta (≤ 0 replays).
  seqDelta: fc.option(fc.integer({ min: -3, max: 3 }), { nil: undefined }),
});
type AppendOp = typeof appendOp extends fc.Arbitrary<infer T> ? T : never;

/** A naive model of the log: every accepted fact in an ever-growing array. */
class Model {
  readonly accepted: Fact[] = [];
  readonly #last = new Map<string, number>();

  /** Applies the ops to the log and the model alike; returns the facts the log accepted. */
  run(ops: readonly AppendOp[], log: FactLog): Fact[] {
    const added: Fact[] = [];
    for (const op of ops) {
      const prev = this.#last.get(op.source) ?? 0;
      const explicit = op.seqDelta === undefined ? undefined : Math.max(1, prev + op.seqDelta);
      const fact = log.append(inputFor(op.kind, op.instanceId, op.source, op.at, explicit));
      const duplicate = explicit !== undefined && explicit <= prev && this.#last.has(op.source);
      if (duplicate) {
        expect(fact).toBeNull();
        continue;
      }
      expect(fact).not.toBeNull();
      expect(fact!.sourceSeq).toBe(explicit ?? prev + 1);
      this.#last.set(op.source, fact!.sourceSeq);
      added.push(fact!);
    }
    this.accepted.push(...added);
    return added;
  }
}

function runModel(ops: readonly AppendOp[], log: FactLog): Fact[] {
  return new Model().run(ops, log);
}

const query: fc.Arbitrary<FactQuery> = fc.record(
  {
    instanceId: fc.constantFrom(...INSTANCES),
    source: fc.constantFrom(...SOURCES),
    kind: fc.constantFrom(...KINDS),
    kinds: fc.subarray(KINDS, { minLength: 1 }),
    since: fc.integer({ min: 0, max: 1000 }),
    until: fc.integer({ min: 0, max: 1000 }),
    afterSeq: fc.integer({ min: 0, max: 80 }),
    limit: fc.integer({ min: 1, max: 30 }),
    order: fc.constantFrom("asc", "desc") as fc.Arbitrary<"asc" | "desc">,
  },
  { requiredKeys: [] },
);

function naiveQuery(facts: readonly Fact[], q: FactQuery): Fact[] {
  const hits = facts.filter(
    (f) =>
      (q.instanceId === undefined || f.instanceId === q.instanceId) &&
      (q.source === undefined || f.source === q.source) &&
      (q.kind === undefined || f.kind === q.kind) &&
      (q.kinds === undefined || q.kinds.includes(f.kind)) &&
      (q.since === undefined || f.at >= q.since) &&
      (q.until === undefined || f.at < q.until) &&
      (q.afterSeq === undefined || f.seq > q.afterSeq),
  );
  const ordered = q.order === "desc" ? hits.reverse() : hits;
  return q.limit === undefined ? ordered : ordered.slice(0, q.limit);
}

async function take(iterable: AsyncIterator<Fact>, n: number): Promise<Fact[]> {
  const out: Fact[] = [];
  while (out.length < n) {
    const r = await iterable.next();
    if (r.done) break;
    out.push(r.value);
  }
  return out;
}

describe("fact log ordering and retention", () => {
  it("gives strictly increasing seqs, per-source monotonic sourceSeqs, and ignores replayed duplicates", () => {
    fc.assert(
      fc.property(fc.array(appendOp, { maxLength: 80 }), fc.integer({ min: 1, max: 40 }), (ops, maxFacts) => {
        const log = new FactLog({ maxFacts });
        const accepted = runModel(ops, log);
        for (const [i, f] of accepted.entries()) expect(f.seq).toBe(i + 1);
        const retained = log.query();
        for (let i = 1; i < retained.length; i++) expect(retained[i]!.seq).toBe(retained[i - 1]!.seq + 1);
        for (const source of SOURCES) {
          const seqs = retained.filter((f) => f.source === source).map((f) => f.sourceSeq);
          for (let i = 1; i < seqs.length; i++) expect(seqs[i]!).toBeGreaterThan(seqs[i - 1]!);
        }
      }),
      RUNS,
    );
  });

  it("never holds more than maxFacts, and what it holds are the newest", () => {
    fc.assert(
      fc.property(fc.array(appendOp, { maxLength: 80 }), fc.integer({ min: 1, max: 40 }), (ops, maxFacts) => {
        const log = new FactLog({ maxFacts });
        const accepted = runModel(ops, log);
        expect(log.size).toBe(Math.min(maxFacts, accepted.length));
        expect(log.query()).toEqual(accepted.slice(-maxFacts));
        expect(log.lastSeq).toBe(accepted.length);
        expect(log.firstSeq).toBe(accepted.length - log.size + 1);
        expect(log.get(log.firstSeq - 1)).toBeUndefined();
      }),
      RUNS,
    );
  });

  it("answers queries exactly as a naive filter over the retained facts", () => {
    fc.assert(
      fc.property(
        fc.array(appendOp, { maxLength: 80 }),
        fc.integer({ min: 1, max: 60 }),
        query,
        (ops, maxFacts, q) => {
          const log = new FactLog({ maxFacts });
          const accepted = runModel(ops, log);
          expect(log.query(q)).toEqual(naiveQuery(accepted.slice(-maxFacts), q));
        },
      ),
      RUNS,
    );
  });

  it("stays flat under a million appends from many sources", () => {
    const log = new FactLog({ maxFacts: 1000, maxSources: 64 });
    for (let i = 0; i < 1_000_000; i++) {
      log.append({ source: `node-${i % 500}`, kind: "instance.started", instanceId: "inst-1", at: i });
    }
    expect(log.size).toBe(1000);
    expect(log.sourceCount).toBe(64);
    expect(log.lastSeq).toBe(1_000_000);
    expect(log.query()[0]!.seq).toBe(999_001);
  }, 20_000);

  it("forgets the least recently heard source first, so duplicate detection survives for active ones", () => {
    const log = new FactLog({ maxSources: 2 });
    log.append({ source: "a", kind: "node.lost", nodeId: "n1", sourceSeq: 5 });
    log.append({ source: "b", kind: "node.lost", nodeId: "n1", sourceSeq: 5 });
    log.append({ source: "a", kind: "node.lost", nodeId: "n1", sourceSeq: 6 });
    log.append({ source: "c", kind: "node.lost", nodeId: "n1", sourceSeq: 1 });
    expect(log.lastSourceSeq("a")).toBe(6);
    expect(log.lastSourceSeq("b")).toBeUndefined();
    expect(log.append({ source: "a", kind: "node.lost", nodeId: "n1", sourceSeq: 6 })).toBeNull();
  });

  it("keeps a forgotten self-numbered source monotonic when it comes back", () => {
    const log = new FactLog({ maxSources: 1 });
    for (let i = 0; i < 3; i++) log.append({ source: "a", kind: "node.lost", nodeId: "n1" });
    log.append({ source: "b", kind: "node.lost", nodeId: "n1" });
    const back = log.append({ source: "a", kind: "node.lost", nodeId: "n1" });
    expect(back!.sourceSeq).toBeGreaterThan(3);
  });

  it("stamps facts without a time with the injected clock", () => {
    const log = new FactLog({ now: () => 42 });
    expect(log.append({ source: "cp", kind: "node.registered", nodeId: "n1" })!.at).toBe(42);
  });
});

describe("fact validation", () => {
  const log = new FactLog();

  it("refuses application data in a fact with INVALID_REQUEST", () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 12 }).filter((k) => !["reason", "trap", "exitCode"].includes(k)),
        fc.jsonValue(),
        (key, value) => {
          const before = log.lastSeq;
          const failure = expectCode(
            () =>
              log.append({
                source: "n",
                kind: "instance.crashed",
                instanceId: "inst-1",
                data: { reason: "trap", [key]: value } as never,
              }),
            ErrorCode.INVALID_REQUEST,
          );
          expect(failure.message).toContain("facts hold only metadata");
          expect(log.lastSeq).toBe(before);
        },
      ),
      { numRuns: 100 },
    );
  });

  it.each([
    [{ source: "n", kind: "instance.exploded", instanceId: "i" }, "unknown fact kind"],
    [{ source: "n", kind: "instance.started" }, "needs an instanceId"],
    [{ source: "n", kind: "node.lost" }, "needs a nodeId"],
    [{ source: "n", kind: "instance.crashed", instanceId: "i" }, "needs data.reason"],
    [
      { source: "n", kind: "instance.restarted", instanceId: "i", data: { attempt: -1, delayMs: 0 } },
      "whole number",
    ],
    [{ source: "", kind: "node.lost", nodeId: "n" }, "fact source"],
    [{ source: "n", kind: "node.lost", nodeId: "n", sourceSeq: 0 }, "sourceSeq"],
    [{ source: "n", kind: "node.lost", nodeId: "n", payload: "x" }, "field 'payload' is not allowed"],
    [
      {
        source: "n",
        kind: "capability.assigned",
        instanceId: "i",
        data: { capability: "fs", binding: "d", provider: "local" },
      },
      "unknown capability",
    ],
  ])("refuses a malformed fact (%#) with INVALID_REQUEST", (input, fragment) => {
    const failure = expectCode(() => log.append(input as never), ErrorCode.INVALID_REQUEST);
    expect(failure.message).toContain(fragment);
  });

  it("accepts the fields node agents and control planes report, normalizing them", () => {
    const crashed = log.append({
      source: "node-1",
      kind: "instance.crashed",
      instanceId: "i1",
      data: { reason: "fuel_exhausted", trap: "out of fuel", wallTimeMs: 12.5, fuelUsed: 1000, hostCalls: 2 },
    });
    expect(crashed!.data).toMatchObject({ reason: "fuel_exhausted", wallTimeMs: 12.5 });
    const assigned = log.append({
      source: "node-1",
      kind: "capability.assigned",
      instanceId: "i1",
      data: { capability: "keyvalue", permissions: [{ kind: "kv", action: "read" }, "kv:write"] },
    });
    expect(assigned!.data).toEqual({
      capability: "keyvalue",
      binding: "default",
      permissions: ["kv:read", "kv:write"],
    });
    const revoked = log.append({
      source: "cp",
      kind: "capability.revoked",
      instanceId: "i1",
      data: { capability: "keyvalue", binding: null as never },
    });
    expect(revoked!.data).toEqual({ capability: "keyvalue", binding: "default" });
    const stopped = log.append({
      source: "node-1",
      kind: "instance.stopped",
      instanceId: "i1",
      data: { forced: true },
    });
    expect(stopped!.data).toEqual({ forced: true });
  });

  it("cuts long trap messages instead of losing the fact", () => {
    const fact = log.append({
      source: "n",
      kind: "instance.crashed",
      instanceId: "inst-1",
      data: { reason: "trap", trap: "x".repeat(5000), exitCode: 3 },
    });
    expect(fact!.data.trap!.length).toBeLessThanOrEqual(1025);
    expect(Object.isFrozen(fact)).toBe(true);
  });
});

describe("fact listeners", () => {
  it("hear every later append synchronously until removed, and a throwing one does not fail the append", () => {
    const failures: unknown[] = [];
    const log = new FactLog({ onListenerError: (error) => failures.push(error) });
    const heard: number[] = [];
    const stop = log.onAppend((fact) => heard.push(fact.seq));
    const bad = log.onAppend(() => {
      throw new Error("listener bug");
    });
    expect(log.append({ source: "n", kind: "node.lost", nodeId: "n1" })?.seq).toBe(1);
    bad();
    stop();
    log.append({ source: "n", kind: "node.lost", nodeId: "n1" });
    expect(heard).toEqual([1]);
    expect(failures).toHaveLength(1);
  });
});

describe("fact subscriptions", () => {
  it("replay retained facts after afterSeq, then deliver live ones, in seq order, through the filter", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(appendOp, { maxLength: 30 }),
        fc.array(appendOp, { maxLength: 30 }),
        fc.integer({ min: 0, max: 40 }),
        fc.option(fc.constantFrom(...INSTANCES), { nil: undefined }),
        async (before, after, afterSeq, instanceId) => {
          const log = new FactLog({ maxFacts: 100 });
          const model = new Model();
          const historic = model.run(before, log);
          const sub = log.subscribe({ afterSeq, filter: instanceId === undefined ? {} : { instanceId } });
          const live = model.run(after, log);
          // A reader that claims to be ahead of the log (another incarnation's seqs) starts at the head.
          const from = Math.min(afterSeq, historic.length);
          const expected = [...historic, ...live].filter(
            (f) => f.seq > from && (instanceId === undefined || f.instanceId === instanceId),
          );
          expect(await take(sub, expected.length)).toEqual(expected);
          sub.close();
          expect(await sub.closed).toEqual({ reason: "closed" });
          expect(log.subscriberCount).toBe(0);
        },
      ),
      { numRuns: 100 },
    );
  });

  it("wakes a waiting reader when a matching fact arrives and only then", async () => {
    const log = new FactLog();
    const sub = log.subscribe({ filter: { kind: "instance.lost" } });
    const pending = sub.next();
    log.append({ source: "n", kind: "instance.started", instanceId: "i1" });
    log.append({ source: "n", kind: "instance.lost", instanceId: "i1" });
    const first = await pending;
    expect(first.done).toBe(false);
    expect((first.value as Fact).kind).toBe("instance.lost");
  });

  it("starts at the head when afterSeq is omitted, and marks a replay that asked for dropped facts", async () => {
    const log = new FactLog({ maxFacts: 3 });
    for (let i = 0; i < 5; i++) log.append({ source: "n", kind: "node.lost", nodeId: "n1" });
    const live = log.subscribe();
    const replay = log.subscribe({ afterSeq: 0 });
    expect(replay.truncated).toBe(true);
    expect(live.truncated).toBe(false);
    // The replay reads first: the ring is full, so the next append would drop seq 3 unread.
    expect((await take(replay, 3)).map((f) => f.seq)).toEqual([3, 4, 5]);
    log.append({ source: "n", kind: "node.lost", nodeId: "n1" });
    expect((await take(live, 1)).map((f) => f.seq)).toEqual([6]);
    expect((await take(replay, 1)).map((f) => f.seq)).toEqual([6]);
  });

  it("ends a reader that falls more than maxLag behind with a RESOURCE_EXHAUSTED overflow", async () => {
    const log = new FactLog({ maxFacts: 100 });
    const sub = log.subscribe({ maxLag: 10 });
    for (let i = 0; i < 11; i++) log.append({ source: "n", kind: "node.lost", nodeId: "n1" });
    const end = await sub.closed;
    expect(end.reason).toBe("overflow");
    await expect(sub.next()).rejects.toSatisfy(
      (e: unknown) => WasmatrixError.is(e) && e.code === ErrorCode.RESOURCE_EXHAUSTED,
    );
    expect((await sub.next()).done).toBe(true);
    expect(log.subscriberCount).toBe(0);
  });

  it("overflows at the latest when unread facts would be dropped from the ring", async () => {
    const log = new FactLog({ maxFacts: 5 });
    const sub = log.subscribe();
    for (let i = 0; i < 5; i++) log.append({ source: "n", kind: "node.lost", nodeId: "n1" });
    expect(log.subscriberCount).toBe(1);
    log.append({ source: "n", kind: "node.lost", nodeId: "n1" });
    expect((await sub.closed).reason).toBe("overflow");
  });

  it("releases the subscriber when a for-await loop breaks", async () => {
    const log = new FactLog();
    for (let i = 0; i < 3; i++) log.append({ source: "n", kind: "node.lost", nodeId: "n1" });
    const sub = log.subscribe({ afterSeq: 0 });
    for await (const fact of sub) {
      if (fact.seq === 2) break;
    }
    expect(await sub.closed).toEqual({ reason: "closed" });
    expect(log.subscriberCount).toBe(0);
  });

  it("ends on abort, resolving a waiting next() as done", async () => {
    const log = new FactLog();
    const controller = new AbortController();
    const sub = log.subscribe({ signal: controller.signal });
    const pending = sub.next();
    controller.abort();
    expect((await pending).done).toBe(true);
    expect(await sub.closed).toEqual({ reason: "aborted" });
    const already = log.subscribe({ signal: controller.signal });
    expect(await already.closed).toEqual({ reason: "aborted" });
    expect(log.subscriberCount).toBe(0);
  });

  it("isolates a throwing filter from the log and its other readers", async () => {
    const log = new FactLog();
    const bad = log.subscribe({
      filter: () => {
        throw new Error("boom");
      },
    });
    const good = log.subscribe();
    const waiting = bad.next();
    log.append({ source: "n", kind: "node.lost", nodeId: "n1" });
    await expect(waiting).rejects.toThrow("boom");
    expect((await bad.closed).reason).toBe("error");
    expect((await take(good, 1)).length).toBe(1);
  });
});

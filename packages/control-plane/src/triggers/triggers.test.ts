import { ErrorCode } from "@wasmatrix/core";
import { silentLogger } from "@wasmatrix/core/logger";
import { rejection } from "@wasmatrix/core/test-support/expect-code";
import * as pb from "@wasmatrix/proto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { OwnFact } from "../membership.js";
import type { Clock } from "./clock.js";
import type { TickClaims } from "./tick-claims.js";
import { Triggers } from "./triggers.js";

/** A clock whose time moves only when the test says; timers fire in time order. */
class FakeClock implements Clock {
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private ids = 0;
  constructor(private t: number) {}
  now(): number {
    return this.t;
  }
  setTimer(fn: () => void, ms: number): () => void {
    const id = ++this.ids;
    this.timers.push({ at: this.t + Math.max(0, ms), fn, id });
    return () => {
      this.timers = this.timers.filter((x) => x.id !== id);
    };
  }
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at);
      const next = this.timers[0];
      if (next === undefined || next.at > end) break;
      this.timers.shift();
      this.t = next.at;
      next.fn();
    }
    this.t = end;
  }
}

const START = Date.UTC(2026, 0, 1, 0, 0, 0);

function instance(instanceId: string, status: string, labels: Record<string, string> = {}): pb.Instance {
  return pb.Instance.fromPartial({ instanceId, status, labels, nodeId: "node-1" });
}

function setup(options: { claims?: TickClaims; instances?: pb.Instance[]; fail?: boolean } = {}) {
  const clock = new FakeClock(START);
  const facts: OwnFact[] = [];
  const invoked: { instanceId: string; at: number; payload: string }[] = [];
  const triggers = new Triggers(
    { clock, ...(options.claims === undefined ? {} : { claims: options.claims }) },
    {
      logger: silentLogger,
      instances: () => options.instances ?? [instance("echo", "running")],
      invoke: async (request) => {
        invoked.push({
          instanceId: request.instanceId,
          at: clock.now(),
          payload: request.payload.toString(),
        });
        return pb.InvokeResponse.fromPartial({
          guestError: options.fail ? "boom" : "",
          outcome: { status: "ok" },
        });
      },
      record: (fact) => facts.push(fact),
    },
  );
  return { clock, facts, invoked, triggers };
}

function cron(name: string, expr: string, target: Partial<pb.Trigger> = { targetInstanceId: "echo" }) {
  return {
    trigger: pb.Trigger.fromPartial({
      name,
      cron: expr,
      operation: "tick",
      data: Buffer.from("hi"),
      ...target,
    }),
  };
}

const fired = (facts: OwnFact[]) => facts.filter((f) => f.kind === "trigger.fired");

describe("cron triggers on a fake clock", () => {
  it("fire on each tick of a seconds schedule and record a trigger.fired fact with the outcome", async () => {
    const { clock, facts, invoked, triggers } = setup();
    const added = await triggers.add(cron("every-second", "*/1 * * * * *"));
    expect(added.nextFireAtMs).toBe(START + 1_000);
    clock.advance(3_000);
    await triggers.settled();
    expect(invoked).toHaveLength(3);
    expect(invoked[0]!.payload).toBe("hi");
    expect(fired(facts).map((f) => f.data)).toEqual(
      [1, 2, 3].map((s) => ({
        trigger: "every-second",
        scheduledAt: START + s * 1_000,
        outcome: "ok",
      })),
    );
    expect(fired(facts)[0]!.instanceId).toBe("echo");
    await triggers.close();
  });

  it("fire a 5-field schedule on the minute, not before", async () => {
    const { clock, facts, invoked, triggers } = setup();
    await triggers.add(cron("five", "*/5 * * * *"));
    clock.advance(5 * 60_000 - 1);
    await triggers.settled();
    expect(invoked).toEqual([]);
    clock.advance(1);
    await triggers.settled();
    expect(invoked).toHaveLength(1);
    expect(facts.at(-1)?.data).toMatchObject({ scheduledAt: START + 5 * 60_000 });
    await triggers.close();
  });

  it("stop firing once removed", async () => {
    const { clock, invoked, triggers } = setup();
    await triggers.add(cron("t", "*/1 * * * * *"));
    clock.advance(1_000);
    await triggers.remove({ name: "t" });
    clock.advance(5_000);
    await triggers.settled();
    expect(invoked).toHaveLength(1);
    expect((await triggers.list()).triggers).toEqual([]);
    await triggers.close();
  });

  it("invoke every running instance carrying the labels, and record no_target when none runs", async () => {
    const instances = [
      instance("a", "running", { app: "web" }),
      instance("b", "restarting", { app: "web" }),
      instance("c", "running", { app: "db" }),
      instance("d", "running", { app: "web", tier: "x" }),
    ];
    const { clock, facts, invoked, triggers } = setup({ instances });
    await triggers.add(cron("web", "*/1 * * * * *", { targetLabels: { app: "web" } }));
    await triggers.add(cron("none", "*/1 * * * * *", { targetLabels: { app: "nothing" } }));
    clock.advance(1_000);
    await triggers.settled();
    expect(invoked.map((i) => i.instanceId).sort()).toEqual(["a", "d"]);
    const none = fired(facts).filter((f) => (f.data as { trigger: string }).trigger === "none");
    expect(none.map((f) => (f.data as { outcome: string }).outcome)).toEqual(["no_target"]);
    await triggers.close();
  });

  it("record a guest error as the firing's outcome and count it as failed", async () => {
    const { clock, facts, triggers } = setup({ fail: true });
    await triggers.add(cron("t", "*/1 * * * * *"));
    clock.advance(1_000);
    await triggers.settled();
    expect(fired(facts)[0]!.data).toMatchObject({ outcome: "guest_error", detail: "boom" });
    expect((await triggers.list()).triggers[0]!.counters).toMatchObject({ fired: 0, failed: 1 });
    await triggers.close();
  });

  it("skip a tick another control plane claimed", async () => {
    const claimed = new Set<string>();
    const claims: TickClaims = {
      claim: async (name, at) => {
        const key = `${name}@${at}`;
        if (claimed.has(key)) return false;
        claimed.add(key);
        return true;
      },
    };
    const one = setup({ claims });
    const two = setup({ claims });
    await one.triggers.add(cron("t", "*/1 * * * * *"));
    await two.triggers.add(cron("t", "*/1 * * * * *"));
    one.clock.advance(2_000);
    two.clock.advance(2_000);
    await one.triggers.settled();
    await two.triggers.settled();
    expect(one.invoked.length + two.invoked.length).toBe(2);
    await one.triggers.close();
    await two.triggers.close();
  });

  it("fire every tick exactly once however many control planes share the claims", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 20 }),
        async (planes, seconds) => {
          const claimed = new Set<string>();
          const claims: TickClaims = {
            claim: async (name, at) => !claimed.has(`${name}@${at}`) && Boolean(claimed.add(`${name}@${at}`)),
          };
          const all = Array.from({ length: planes }, () => setup({ claims }));
          for (const p of all) await p.triggers.add(cron("t", "*/1 * * * * *"));
          // Each control plane's clock runs on its own; each sees every tick.
          for (const p of all) p.clock.advance(seconds * 1_000);
          for (const p of all) await p.triggers.settled();
          const ticks = all.flatMap((p) =>
            fired(p.facts).map((f) => (f.data as { scheduledAt: number }).scheduledAt),
          );
          expect(ticks.sort((a, b) => a - b)).toEqual(
            Array.from({ length: seconds }, (_, i) => START + (i + 1) * 1_000),
          );
          for (const p of all) await p.triggers.close();
        },
      ),
      { numRuns: 50 },
    );
  });

  it("refuse bad definitions before storing them", async () => {
    const { triggers } = setup();
    const code = async (call: Promise<unknown>) => (await rejection(call)).code;
    expect(await code(triggers.add(cron("bad", "not a cron")))).toBe(ErrorCode.INVALID_REQUEST);
    expect(await code(triggers.add(cron("bad", "* * * * * * 2030")))).toBe(ErrorCode.INVALID_REQUEST);
    expect(await code(triggers.add(cron("bad", "* * * * *", {})))).toBe(ErrorCode.INVALID_REQUEST);
    const queue = pb.Trigger.fromPartial({
      name: "q",
      queueSubject: "a.b",
      targetInstanceId: "x",
      operation: "op",
    });
    expect(await code(triggers.add({ trigger: queue }))).toBe(ErrorCode.PROVIDER_UNAVAILABLE);
    await triggers.add(cron("dup", "* * * * *"));
    expect(await code(triggers.add(cron("dup", "* * * * *")))).toBe(ErrorCode.ALREADY_EXISTS);
    expect(await code(triggers.remove({ name: "nope" }))).toBe(ErrorCode.TRIGGER_NOT_FOUND);
    expect((await triggers.list()).triggers.map((t) => t.name)).toEqual(["dup"]);
    await triggers.close();
  });
});

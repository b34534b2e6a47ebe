import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Clock } from "./clock.js";
import { parseCron } from "./cron.js";
import { CronScheduler } from "./cron-scheduler.js";

class StepClock implements Clock {
  timers: { at: number; fn: () => void }[] = [];
  constructor(public t: number) {}
  now = () => this.t;
  setTimer(fn: () => void, ms: number) {
    const timer = { at: this.t + Math.max(0, ms), fn };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((x) => x !== timer);
    };
  }
  /** Jumps to `t` (a late wake-up when it is past several timers) and runs what is due, once. */
  jump(t: number) {
    this.t = t;
    const due = this.timers.filter((x) => x.at <= t);
    this.timers = this.timers.filter((x) => x.at > t);
    for (const x of due) x.fn();
  }
}

const START = Date.UTC(2026, 5, 1, 12, 0, 0);
const EXPRESSIONS = ["*/1 * * * * *", "*/7 * * * * *", "0,30 * * * * *", "* * * * *", "*/2 * * * *"];

describe("the cron scheduler", () => {
  it("fires only real ticks of the expression, each at most once, in order, and never in a burst after a late wake-up", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...EXPRESSIONS),
        fc.array(fc.integer({ min: 1, max: 400_000 }), { minLength: 1, maxLength: 40 }),
        (expression, steps) => {
          const schedule = parseCron(expression);
          const clock = new StepClock(START);
          const fired: number[] = [];
          const scheduler = new CronScheduler(clock, (_, at) => fired.push(at));
          scheduler.schedule("t", schedule);
          let t = START;
          for (const step of steps) {
            const before = fired.length;
            t += step;
            clock.jump(t);
            // One wake-up fires at most one tick, however many it slept through.
            expect(fired.length - before).toBeLessThanOrEqual(1);
          }
          for (let i = 0; i < fired.length; i++) {
            const previous = i === 0 ? START : fired[i - 1]!;
            expect(fired[i]!).toBeGreaterThan(previous);
            expect(fired[i]!).toBeLessThanOrEqual(t);
            // A real tick: the expression's next tick after the moment just before it.
            expect(schedule.next(fired[i]! - 1)).toBe(fired[i]);
          }
          expect(new Set(fired).size).toBe(fired.length);
          scheduler.close();
          expect(clock.timers).toEqual([]);
        },
      ),
      { numRuns: 200 },
    );
  });
});

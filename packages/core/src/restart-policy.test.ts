import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ErrorCode } from "./errors.js";
import {
  ALWAYS,
  type BackoffPolicy,
  backoffDelay,
  backoffPolicy,
  DEFAULT_BACKOFF,
  decideRestart,
  type ExitEvent,
  formatRestartPolicy,
  MAX_RESTART_DELAY_MS,
  NEVER,
  parseRestartPolicy,
  type RestartHistory,
  type RestartPolicy,
  validateRestartPolicy,
} from "./restart-policy.js";
import { expectCode } from "./test-support/expect-code.js";

const RUNS = { numRuns: 200 };

const random = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });

const backoff: fc.Arbitrary<BackoffPolicy> = fc
  .record({
    initialMs: fc.integer({ min: 1, max: 10_000 }),
    extraMs: fc.integer({ min: 0, max: 1_000_000 }),
    multiplier: fc.double({ min: 1, max: 10, noNaN: true }),
    jitter: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
    resetAfterMs: fc.integer({ min: 1, max: 3_600_000 }),
    maxRestarts: fc.option(fc.integer({ min: 0, max: 20 }), { nil: null }),
  })
  .map(({ extraMs, ...rest }) => backoffPolicy({ ...rest, maxMs: rest.initialMs + extraMs }));

const policy: fc.Arbitrary<RestartPolicy> = fc.oneof(fc.constant(NEVER), fc.constant(ALWAYS), backoff);

const history: fc.Arbitrary<RestartHistory> = fc.record({
  attempt: fc.integer({ min: 0, max: 1000 }),
  restarts: fc.integer({ min: 0, max: 1000 }),
  lastStartedAt: fc.integer({ min: 0, max: 1e12 }),
});

const exitKind = fc.constantFrom("crashed", "completed") as fc.Arbitrary<ExitEvent["kind"]>;

describe("backoff delay", () => {
  it("grows monotonically with the attempt when jitter is 0", () => {
    fc.assert(
      fc.property(backoff, fc.nat(200), fc.nat(200), (p, a, b) => {
        const steady = { ...p, jitter: 0 };
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        expect(backoffDelay(steady, lo, 0)).toBeLessThanOrEqual(backoffDelay(steady, hi, 0));
      }),
      RUNS,
    );
  });

  it("never exceeds its cap, whatever the jitter, attempt or random sample", () => {
    fc.assert(
      fc.property(backoff, fc.nat(100_000), random, (p, attempt, r) => {
        const delay = backoffDelay(p, attempt, r);
        expect(delay).toBeLessThanOrEqual(p.maxMs);
        expect(delay).toBeGreaterThanOrEqual(0);
        expect(Number.isInteger(delay)).toBe(true);
      }),
      RUNS,
    );
  });

  it("follows min(max, initial·multiplier^attempt)·(1 − jitter·random)", () => {
    const p = backoffPolicy({ initialMs: 100, maxMs: 30_000, multiplier: 2, jitter: 0.5 });
    expect([0, 1, 2, 3, 8, 9].map((a) => backoffDelay(p, a, 0))).toEqual([
      100, 200, 400, 800, 25_600, 30_000,
    ]);
    expect(backoffDelay(p, 2, 0.5)).toBe(300);
    expect(backoffDelay(p, 10_000, 0)).toBe(30_000);
  });

  it("takes off at most the jitter fraction", () => {
    fc.assert(
      fc.property(backoff, fc.nat(50), random, (p, attempt, r) => {
        const full = backoffDelay(p, attempt, 0);
        expect(backoffDelay(p, attempt, r)).toBeGreaterThanOrEqual(Math.floor(full * (1 - p.jitter)) - 1);
      }),
      RUNS,
    );
  });

  it("refuses a random sample outside [0, 1)", () => {
    expectCode(() => backoffDelay(DEFAULT_BACKOFF, 0, 1), ErrorCode.INVALID_REQUEST);
    expectCode(() => backoffDelay(DEFAULT_BACKOFF, 0, -0.1), ErrorCode.INVALID_REQUEST);
    expectCode(() => backoffDelay(DEFAULT_BACKOFF, 0, Number.NaN), ErrorCode.INVALID_REQUEST);
  });
});

describe("restart decisions", () => {
  it("never restarts under never", () => {
    fc.assert(
      fc.property(history, exitKind, fc.nat(), random, (h, kind, at, r) => {
        expect(decideRestart(NEVER, h, { kind, at }, r)).toEqual({ action: "none" });
      }),
      RUNS,
    );
  });

  it("always restarts at once under always, after crashes and completions alike, counting restarts", () => {
    fc.assert(
      fc.property(history, exitKind, fc.nat(), random, (h, kind, at, r) => {
        expect(decideRestart(ALWAYS, h, { kind, at }, r)).toEqual({
          action: "restart",
          delayMs: 0,
          attempt: h.attempt + 1,
          restarts: h.restarts + 1,
        });
      }),
      RUNS,
    );
  });

  it("does not restart a command that completed under backoff", () => {
    fc.assert(
      fc.property(backoff, history, fc.nat(), random, (p, h, at, r) => {
        expect(decideRestart(p, h, { kind: "completed", at }, r)).toEqual({ action: "none" });
      }),
      RUNS,
    );
  });

  it("honours maxRestarts: exactly that many restarts of unstable runs, then give_up for good", () => {
    fc.assert(
      fc.property(
        backoff.filter((p) => p.maxRestarts !== null),
        fc.array(fc.double({ min: 0, max: 0.999, noNaN: true }), { minLength: 25, maxLength: 25 }),
        random,
        (p, runFractions, r) => {
          let h: RestartHistory = { attempt: 0, restarts: 0, lastStartedAt: 0 };
          let now = 0;
          let restarted = 0;
          let gaveUp = false;
          for (const fraction of runFractions) {
            // Every run is shorter than resetAfterMs, so nothing resets.
            now = h.lastStartedAt + Math.floor(fraction * p.resetAfterMs);
            const decision = decideRestart(p, h, { kind: "crashed", at: now }, r);
            if (decision.action === "give_up") {
              expect(decision.reason).toBe("restarts_exhausted");
              gaveUp = true;
              break;
            }
            expect(decision.action).toBe("restart");
            if (decision.action !== "restart") return;
            restarted++;
            h = {
              attempt: decision.attempt,
              restarts: decision.restarts,
              lastStartedAt: now + decision.delayMs,
            };
          }
          expect(restarted).toBe(Math.min(p.maxRestarts!, runFractions.length));
          expect(gaveUp).toBe(p.maxRestarts! < runFractions.length);
        },
      ),
      RUNS,
    );
  });

  it("resets the backoff after a stable run: the next delay is the initial one again", () => {
    fc.assert(
      fc.property(backoff, history, fc.nat(1_000_000), random, (p, h, extra, r) => {
        const at = h.lastStartedAt + p.resetAfterMs + extra;
        const decision = decideRestart(p, h, { kind: "crashed", at }, r);
        if (p.maxRestarts === 0) {
          expect(decision).toEqual({ action: "give_up", reason: "restarts_exhausted", restarts: 0 });
          return;
        }
        expect(decision).toEqual({
          action: "restart",
          delayMs: backoffDelay(p, 0, r),
          attempt: 1,
          restarts: 1,
        });
      }),
      RUNS,
    );
  });

  it("keeps growing the delay while runs stay short", () => {
    const p = backoffPolicy({ jitter: 0, resetAfterMs: 1000 });
    let h: RestartHistory = { attempt: 0, restarts: 0, lastStartedAt: 0 };
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      const d = decideRestart(p, h, { kind: "crashed", at: h.lastStartedAt + 10 }, 0);
      if (d.action !== "restart") throw new Error("expected a restart");
      delays.push(d.delayMs);
      h = { attempt: d.attempt, restarts: d.restarts, lastStartedAt: h.lastStartedAt + 10 + d.delayMs };
    }
    expect(delays).toEqual([100, 200, 400, 800, 1600]);
  });
});

describe("restart policy text and validation", () => {
  it("round-trips: parse(format(p)) equals p", () => {
    fc.assert(
      fc.property(policy, (p) => {
        expect(parseRestartPolicy(formatRestartPolicy(p))).toEqual(p);
      }),
      RUNS,
    );
  });

  it("reads the short forms and fills defaults", () => {
    expect(parseRestartPolicy("never")).toEqual({ kind: "never" });
    expect(parseRestartPolicy(" always ")).toEqual({ kind: "always" });
    expect(parseRestartPolicy("backoff")).toEqual(DEFAULT_BACKOFF);
    expect(DEFAULT_BACKOFF).toMatchObject({
      initialMs: 100,
      maxMs: 30_000,
      multiplier: 2,
      jitter: 0.1,
      resetAfterMs: 60_000,
      maxRestarts: null,
    });
    expect(
      parseRestartPolicy("backoff:initial=1s,max=2m,max-restarts=5,reset=90s,jitter=0,multiplier=1.5"),
    ).toEqual({
      kind: "backoff",
      initialMs: 1000,
      maxMs: 120_000,
      multiplier: 1.5,
      jitter: 0,
      resetAfterMs: 90_000,
      maxRestarts: 5,
    });
    expect(parseRestartPolicy("backoff:max-restarts=none")).toEqual(DEFAULT_BACKOFF);
  });

  it.each([
    ["", "unknown restart policy"],
    ["sometimes", "unknown restart policy"],
    ["backoff:", "unknown backoff setting"],
    ["backoff:speed=2", "unknown backoff setting"],
    ["backoff:initial", "needs a value"],
    ["backoff:initial=fast", "cannot read backoff initial"],
    ["backoff:initial=40s", "must be at least initial"],
    ["backoff:initial=1s,initial=2s", "given twice"],
    ["backoff:multiplier=0.5", "multiplier must be"],
    ["backoff:multiplier=-2", "is not a number"],
    ["backoff:jitter=1", "0 ≤ jitter < 1"],
    ["backoff:max-restarts=1.5", "maxRestarts must be"],
    ["backoff:initial=0ms", "initialMs must be"],
    ["backoff:max=30d", "cannot read backoff max"],
    ["backoff:max=9999h", "maxMs must be"],
  ])("refuses %j with INVALID_REQUEST saying what is wrong", (text, fragment) => {
    const failure = expectCode(() => parseRestartPolicy(text), ErrorCode.INVALID_REQUEST);
    expect(failure.message).toContain(fragment);
  });

  it("refuses impossible policy objects and unknown fields", () => {
    expectCode(
      () => validateRestartPolicy({ kind: "backoff", initialMs: 200, maxMs: 100 }),
      ErrorCode.INVALID_REQUEST,
    );
    expectCode(() => validateRestartPolicy({ kind: "backoff", maxRestarts: -1 }), ErrorCode.INVALID_REQUEST);
    expectCode(
      () => validateRestartPolicy({ kind: "backoff", maxMs: MAX_RESTART_DELAY_MS + 1 }),
      ErrorCode.INVALID_REQUEST,
    );
    expectCode(() => validateRestartPolicy({ kind: "never", initialMs: 1 }), ErrorCode.INVALID_REQUEST);
    expectCode(() => validateRestartPolicy({ kind: "backoff", retries: 3 }), ErrorCode.INVALID_REQUEST);
    expectCode(() => validateRestartPolicy("always"), ErrorCode.INVALID_REQUEST);
    expect(validateRestartPolicy({ kind: "backoff", maxRestarts: 3 })).toEqual({
      ...DEFAULT_BACKOFF,
      maxRestarts: 3,
    });
  });
});

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ErrorCode } from "./errors.js";
import {
  ALLOWED_TRANSITIONS,
  canTransition,
  INSTANCE_STATUSES,
  type InstanceStatus,
  isTerminal,
  parseInstanceStatus,
  transition,
} from "./status.js";
import { expectCode } from "./test-support/expect-code.js";

const status = fc.constantFrom(...INSTANCE_STATUSES);

function reachableFrom(start: InstanceStatus): Set<InstanceStatus> {
  const seen = new Set<InstanceStatus>([start]);
  const queue: InstanceStatus[] = [start];
  for (let s = queue.shift(); s !== undefined; s = queue.shift()) {
    for (const next of ALLOWED_TRANSITIONS[s]) {
      if (!seen.has(next)) {
        seen.add(next);
        queue.push(next);
      }
    }
  }
  return seen;
}

describe("instance status transitions", () => {
  it("follow the table: random attempts never leave the reachable set, and illegal ones throw and change nothing", () => {
    const reachable = reachableFrom("pending");
    fc.assert(
      fc.property(fc.array(status, { maxLength: 60 }), (attempts) => {
        let current: InstanceStatus = "pending";
        for (const to of attempts) {
          const before = current;
          if (ALLOWED_TRANSITIONS[before].includes(to)) {
            current = transition(current, to);
            expect(current).toBe(to);
          } else {
            const failure = expectCode(() => {
              current = transition(current, to);
            }, ErrorCode.FAILED_PRECONDITION);
            expect(failure.details).toEqual({ from: before, to });
            expect(current).toBe(before);
          }
          expect(reachable.has(current)).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("agree between canTransition and the exported table", () => {
    fc.assert(
      fc.property(status, status, (from, to) => {
        expect(canTransition(from, to)).toBe(ALLOWED_TRANSITIONS[from].includes(to));
      }),
      { numRuns: 200 },
    );
  });

  it("let every status reach stopped, so nothing is stuck, and make only stopped terminal", () => {
    for (const s of INSTANCE_STATUSES) {
      expect(reachableFrom(s).has("stopped")).toBe(true);
      expect(isTerminal(s)).toBe(s === "stopped");
    }
    expect([...reachableFrom("pending")].sort()).toEqual([...INSTANCE_STATUSES].sort());
  });

  it("forbid staying put and leaving stopped", () => {
    for (const s of INSTANCE_STATUSES) expect(canTransition(s, s)).toBe(false);
    expect(() => transition("stopped", "starting")).toThrow(/final/);
  });

  it("name an unknown status in an INVALID_REQUEST", () => {
    expectCode(() => parseInstanceStatus("backoff"), ErrorCode.INVALID_REQUEST);
    expect(parseInstanceStatus("lost")).toBe("lost");
  });
});

describe("the status table in docs/core.md", () => {
  it("lists exactly the transitions of ALLOWED_TRANSITIONS", () => {
    const doc = readFileSync(fileURLToPath(new URL("../../../docs/core.md", import.meta.url)), "utf8");
    for (const from of INSTANCE_STATUSES) {
      const row = doc.split("\n").find((line) => new RegExp(`^\\|\\s*\`${from}\`\\s*\\|`).test(line));
      expect(row, `docs/core.md has no row for ${from}`).toBeDefined();
      const allowed =
        row!
          .split("|")[2]!
          .match(/`[a-z]+`/g)
          ?.map((s) => s.slice(1, -1)) ?? [];
      expect(allowed.sort()).toEqual([...ALLOWED_TRANSITIONS[from]].sort());
    }
  });
});

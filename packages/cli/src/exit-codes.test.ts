import { describe, expect, it } from "vitest";
import { EXIT, exitCodeFor } from "./exit-codes.js";

// The protocol's Outcome message: every field present, zero values for the unused ones.
const proto = (status: string, reason = "", exitCode = 0) => ({ status, reason, trap: "", exitCode });

describe("exitCodeFor", () => {
  it("maps the protocol's outcomes as `run` maps the runtime's", () => {
    expect(exitCodeFor(proto("ok"))).toBe(EXIT.OK);
    expect(exitCodeFor(proto("crashed", "exit", 3))).toBe(3);
    expect(exitCodeFor(proto("crashed", "fuel_exhausted"))).toBe(EXIT.LIMIT);
    expect(exitCodeFor(proto("crashed", "timeout"))).toBe(EXIT.LIMIT);
    expect(exitCodeFor(proto("crashed", "unreachable"))).toBe(EXIT.TRAP);
    expect(exitCodeFor(proto("crashed", "worker_lost"))).toBe(EXIT.TRAP);
  });

  it("reports a trap when an exit carries no code", () => {
    expect(exitCodeFor({ status: "crashed", reason: "exit" })).toBe(EXIT.TRAP);
  });
});

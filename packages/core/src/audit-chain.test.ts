import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type AuditRecord, chainLine, GENESIS_HASH, nextLink, verifyAuditChain } from "./audit-chain.js";

const record: fc.Arbitrary<AuditRecord> = fc.record(
  {
    who: fc.constantFrom("anonymous", "token:t1", "node:n1"),
    action: fc.constantFrom("instance.start", "instance.stop", "node.register", "call.refused"),
    target: fc.string({ maxLength: 12 }),
    outcome: fc.constantFrom("ok" as const, "refused" as const, "failed" as const),
    tenant: fc.constantFrom("default", "acme"),
    details: fc.dictionary(fc.string({ maxLength: 6 }), fc.oneof(fc.string(), fc.integer())),
  },
  { requiredKeys: ["who", "action", "target", "outcome"] },
);

/** A file of `records`, written as the control plane writes it: each line after the last. */
function fileOf(records: AuditRecord[]): string {
  let text = "";
  let last: string | undefined;
  for (const [i, r] of records.entries()) {
    last = chainLine(r, { ...nextLink(last), at: 1_700_000_000_000 + i });
    text += `${last}\n`;
  }
  return text;
}

/** Byte offsets where line `n` (1-based) starts and ends (newline excluded). */
function lineSpan(text: string, n: number): [number, number] {
  let start = 0;
  for (let i = 1; i < n; i++) start = text.indexOf("\n", start) + 1;
  return [start, text.indexOf("\n", start)];
}

const file = fc.array(record, { minLength: 2, maxLength: 12 }).map(fileOf);

describe("the audit chain", () => {
  it("holds for a file written entry after entry", () => {
    fc.assert(
      fc.property(fc.array(record, { maxLength: 12 }), (records) => {
        const verdict = verifyAuditChain(fileOf(records));
        expect(verdict).toMatchObject({ ok: true, entries: records.length });
      }),
    );
  });

  it("starts from the genesis hash", () => {
    expect(nextLink(undefined)).toEqual({ prev: GENESIS_HASH, seq: 1 });
    expect(JSON.parse(fileOf([{ who: "a", action: "x", target: "", outcome: "ok" }])).prev).toBe(
      GENESIS_HASH,
    );
  });

  it("names the edited line when any single byte of a line changes", () => {
    fc.assert(
      fc.property(file, fc.nat(), fc.nat(), fc.integer({ min: 1, max: 255 }), (text, l, b, flip) => {
        const lines = text.split("\n").length - 1;
        const n = (l % lines) + 1;
        const [start, end] = lineSpan(text, n);
        const at = start + (b % (end - start));
        const bytes = Buffer.from(text, "latin1");
        bytes[at] = bytes[at]! ^ flip;
        const verdict = verifyAuditChain(bytes.toString("latin1"));
        expect(verdict).toMatchObject({ ok: false, line: n });
      }),
    );
  });

  it("names the line where one byte was deleted", () => {
    fc.assert(
      fc.property(file, fc.nat(), fc.nat(), (text, l, b) => {
        const lines = text.split("\n").length - 1;
        const n = (l % lines) + 1;
        const [start, end] = lineSpan(text, n);
        // Any byte of the line or the newline that ends it.
        const at = start + (b % (end - start + 1));
        const verdict = verifyAuditChain(text.slice(0, at) + text.slice(at + 1));
        expect(verdict).toMatchObject({ ok: false, line: n });
      }),
    );
  });

  it("names the line where a line was removed, unless it was the last", () => {
    fc.assert(
      fc.property(file, fc.nat(), (text, l) => {
        const lines = text.split("\n").slice(0, -1);
        const n = (l % (lines.length - 1)) + 1;
        const removed = [...lines.slice(0, n - 1), ...lines.slice(n)].map((x) => `${x}\n`).join("");
        expect(verifyAuditChain(removed)).toMatchObject({ ok: false, line: n });
      }),
    );
  });

  it("names the first of two lines that swapped places", () => {
    fc.assert(
      fc.property(file, fc.nat(), (text, l) => {
        const lines = text.split("\n").slice(0, -1);
        const n = (l % (lines.length - 1)) + 1;
        const swapped = [...lines];
        [swapped[n - 1], swapped[n]] = [swapped[n]!, swapped[n - 1]!];
        expect(verifyAuditChain(swapped.map((x) => `${x}\n`).join(""))).toMatchObject({ ok: false, line: n });
      }),
    );
  });

  it("calls a last line without its newline torn", () => {
    const text = fileOf([
      { who: "a", action: "x", target: "", outcome: "ok" },
      { who: "a", action: "y", target: "", outcome: "ok" },
    ]);
    expect(verifyAuditChain(text.slice(0, -10))).toMatchObject({ ok: false, line: 2 });
    expect(verifyAuditChain(`${text}{"seq":3`)).toMatchObject({ ok: false, line: 3 });
  });

  it("goes on after the last line's hash and number", () => {
    const text = fileOf([{ who: "a", action: "x", target: "", outcome: "ok" }]);
    const first = JSON.parse(text) as { hash: string };
    expect(nextLink(text.trimEnd())).toEqual({ prev: first.hash, seq: 2 });
  });
});

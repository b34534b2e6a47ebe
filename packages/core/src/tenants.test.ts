import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { WasmatrixError } from "./errors.js";
import { isValidSubject, subjectMatches } from "./permissions.js";
import {
  DEFAULT_TENANT,
  isReservedSubject,
  subjectForGuest,
  TENANT_SUBJECT_ROOT,
  tenantScope,
  tenantSubject,
} from "./tenants.js";

const tenant = fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,8}$/);
const token = fc.oneof(
  fc.constantFrom("orders", "b", "a", "_TENANT", "_INBOX", "default", "x-1", "κ", "🔑"),
  fc.stringMatching(/^[a-z_]{1,6}$/),
);
const subject = fc.array(token, { minLength: 1, maxLength: 5 }).map((t) => t.join("."));
const pattern = fc
  .tuple(fc.array(fc.oneof(token, fc.constant("*")), { minLength: 1, maxLength: 5 }), fc.boolean())
  .map(([t, tail]) => [...t, ...(tail ? [">"] : [])].join("."));

/** The bus subject, or null when the guest's subject is refused. */
function onBus(t: string, s: string): string | null {
  try {
    return tenantSubject(t, s);
  } catch (error) {
    expect(WasmatrixError.from(error).code).toBe("PERMISSION_DENIED");
    return null;
  }
}

describe("tenants' subjects", () => {
  it("keeps the default tenant's subjects as they were and puts others' under their own prefix", () => {
    expect(tenantSubject(DEFAULT_TENANT, "orders.new")).toBe("orders.new");
    expect(tenantSubject("a", "orders.new")).toBe(`${TENANT_SUBJECT_ROOT}.a.orders.new`);
    expect(tenantSubject("a", ">")).toBe(`${TENANT_SUBJECT_ROOT}.a.>`);
    expect(tenantScope("a", "binding/x")).toBe("tenant/a/binding/x");
  });

  it("refuses a guest subject in the reserved space, for every tenant", () => {
    fc.assert(
      fc.property(fc.oneof(tenant, fc.constant(DEFAULT_TENANT)), subject, (t, s) => {
        const reserved = `${TENANT_SUBJECT_ROOT}.${s}`;
        expect(isReservedSubject(reserved)).toBe(true);
        expect(onBus(t, reserved)).toBeNull();
        expect(onBus(t, TENANT_SUBJECT_ROOT)).toBeNull();
      }),
    );
  });

  it("never lets any pattern of one tenant match any subject of another", () => {
    fc.assert(
      fc.property(fc.oneof(tenant, fc.constant(DEFAULT_TENANT)), tenant, pattern, subject, (a, b, p, s) => {
        fc.pre(a !== b);
        const sub = onBus(a, p);
        const pub = onBus(b, s);
        if (sub === null || pub === null) return;
        // A non-default tenant's pattern never matches another tenant's subject.
        if (a !== DEFAULT_TENANT) expect(subjectMatches(sub, pub)).toBe(false);
        // Where a default pattern does match (`*`, `>`), delivery drops the message.
        expect(subjectForGuest(a, pub)).toBeUndefined();
        // And B's patterns never see A's (default or not) concrete subjects either.
        const back = onBus(a, s);
        const bPattern = onBus(b, p);
        if (back !== null && bPattern !== null) expect(subjectMatches(bPattern, back)).toBe(false);
      }),
      { numRuns: 2_000 },
    );
  });

  it("shows a tenant's guest the subject it published on, and same-tenant patterns still match", () => {
    fc.assert(
      fc.property(fc.oneof(tenant, fc.constant(DEFAULT_TENANT)), pattern, subject, (t, p, s) => {
        const pub = onBus(t, s);
        const sub = onBus(t, p);
        if (pub === null || sub === null) return;
        expect(subjectForGuest(t, pub)).toBe(s);
        if (isValidSubject(pub) && isValidSubject(sub, true)) {
          expect(subjectMatches(sub, pub)).toBe(subjectMatches(p, s));
        }
      }),
      { numRuns: 1_000 },
    );
  });

  it("refuses a malformed tenant name rather than building a subject with it", () => {
    for (const bad of ["A", "a.b", "", "a b", ">"]) {
      expect(() => tenantSubject(bad, "orders")).toThrow(/not a tenant name/);
    }
  });
});

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ErrorCode } from "./errors.js";
import {
  INSTANCE_FIELDS,
  PROVIDER_FIELDS,
  validateInstanceMetadata,
  validateProviderMetadata,
} from "./metadata.js";
import { expectCode } from "./test-support/expect-code.js";

const DIGEST = `sha256:${"ab".repeat(32)}`;
const now = () => 1_000;

function instance(id: string, extra: Record<string, unknown> = {}) {
  return { instanceId: id, moduleDigest: DIGEST, ...extra };
}

function provider(id: string, extra: Record<string, unknown> = {}) {
  return { providerId: id, capability: "keyvalue", address: "127.0.0.1:7500", version: "1.0.0", ...extra };
}

describe("metadata validation", () => {
  it("refuses application data: any field outside the allow-list is INVALID_REQUEST", () => {
    const extraKey = (allowed: ReadonlySet<string>) =>
      fc.string({ minLength: 1, maxLength: 16 }).filter((k) => !allowed.has(k));
    fc.assert(
      fc.property(extraKey(INSTANCE_FIELDS), extraKey(PROVIDER_FIELDS), fc.jsonValue(), (ik, pk, value) => {
        const a = expectCode(
          () => validateInstanceMetadata(instance("i1", { [ik]: value }), now),
          ErrorCode.INVALID_REQUEST,
        );
        expect(a.message).toContain("registry stores only metadata: field");
        const b = expectCode(
          () => validateProviderMetadata(provider("p1", { [pk]: value })),
          ErrorCode.INVALID_REQUEST,
        );
        expect(b.message).toContain("registry stores only metadata: field");
      }),
      { numRuns: 150 },
    );
  });

  it("refuses application data hidden inside assignments and oversized strings", () => {
    expectCode(
      () =>
        validateInstanceMetadata(
          instance("i1", { assignments: [{ capability: "keyvalue", permissions: [], cart: { items: 3 } }] }),
          now,
        ),
      ErrorCode.INVALID_REQUEST,
    );
    expectCode(
      () => validateInstanceMetadata(instance("i1", { labels: { note: "x".repeat(129) } }), now),
      ErrorCode.INVALID_REQUEST,
    );
    const tooMany = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, "v"]));
    expectCode(
      () => validateInstanceMetadata(instance("i1", { labels: tooMany }), now),
      ErrorCode.INVALID_REQUEST,
    );
    expectCode(() => validateInstanceMetadata(instance("x".repeat(129)), now), ErrorCode.INVALID_REQUEST);
    expectCode(
      () => validateProviderMetadata(provider("p1", { version: "v".repeat(65) })),
      ErrorCode.INVALID_REQUEST,
    );
    expectCode(
      () => validateProviderMetadata(provider("p1", { address: "a".repeat(257) })),
      ErrorCode.INVALID_REQUEST,
    );
    expectCode(() => validateProviderMetadata(provider("local")), ErrorCode.INVALID_REQUEST);
  });

  it("fills an instance's defaults from the clock and hands out frozen records", () => {
    const record = validateInstanceMetadata(instance("i1"), now);
    expect(record).toMatchObject({ nodeId: null, status: "pending", createdAt: 1_000, updatedAt: 1_000 });
    expect(Object.isFrozen(record)).toBe(true);
    expect(Object.isFrozen(validateProviderMetadata(provider("p1")))).toBe(true);
  });
});

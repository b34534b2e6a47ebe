import {
  CAPABILITY_KINDS,
  type CapabilityAssignment,
  ErrorCode,
  FACT_KINDS,
  type Fact,
  KV_ACTIONS,
  MAX_RESTART_DELAY_MS,
  parsePermission,
  type RestartPolicy,
  validateAssignment,
  validateRestartPolicy,
  WasmatrixError,
} from "@wasmatrix/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import * as pb from "./index.js";

/**
 * The core's types survive the trip to the protocol and back, also across the wire (encode and
 * decode in between): what a client sends is what the node agent acts on.
 */

const RUNS = { numRuns: 200 };
const UINT32_MAX = 2 ** 32 - 1;
const INT32_MAX = 2 ** 31 - 1;

const idLike = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,15}$/);

/** Valid policies, within what the wire's field types hold (see the last test for beyond). */
const restartPolicy: fc.Arbitrary<RestartPolicy> = fc.oneof(
  fc.constant({ kind: "never" as const }),
  fc.constant({ kind: "always" as const }),
  fc
    .record({
      initialMs: fc.integer({ min: 1, max: MAX_RESTART_DELAY_MS }),
      extraMs: fc.integer({ min: 0, max: MAX_RESTART_DELAY_MS }),
      multiplier: fc.double({ min: 1, max: 1e6, noNaN: true }),
      jitter: fc.double({ min: 0, max: 0.999_999, noNaN: true }),
      resetAfterMs: fc.integer({ min: 1, max: UINT32_MAX }),
      maxRestarts: fc.option(fc.integer({ min: 0, max: INT32_MAX }), { nil: null }),
    })
    .map(({ extraMs, initialMs, ...rest }) =>
      validateRestartPolicy({
        kind: "backoff",
        initialMs,
        maxMs: Math.min(MAX_RESTART_DELAY_MS, initialMs + extraMs),
        ...rest,
      }),
    ),
);

const subject = fc
  .array(fc.stringMatching(/^[a-z0-9_-]{1,6}$/), { minLength: 1, maxLength: 4 })
  .map((tokens) => tokens.join("."));
const host = fc
  .array(fc.stringMatching(/^[a-z]([a-z0-9-]{0,6}[a-z0-9])?$/), { minLength: 1, maxLength: 3 })
  .map((labels) => labels.join("."));
const permissionsFor: Record<string, fc.Arbitrary<string>> = {
  keyvalue: fc.constantFrom(...KV_ACTIONS).map((a) => `kv:${a}`),
  http: fc.oneof(
    fc.constant("http:request"),
    host.map((h) => `http:domain:${h}`),
    host.map((h) => `http:domain:*.${h}`),
  ),
  messaging: fc.tuple(fc.constantFrom("publish", "subscribe"), subject).map(([a, s]) => `msg:${a}:${s}`),
  filesystem: fc
    .tuple(
      fc.constantFrom("read", "write"),
      fc.array(fc.stringMatching(/^[a-z0-9_-]{1,8}$/), { maxLength: 3 }),
    )
    .map(([a, parts]) => `fs:${a}:/${parts.join("/")}`),
};

/** Valid assignments, as `validateAssignment` returns them (canonical, without duplicates). */
const assignment: fc.Arbitrary<CapabilityAssignment> = fc
  .constantFrom(...CAPABILITY_KINDS)
  .chain((capability) =>
    fc.record({
      capability: fc.constant(capability),
      provider: fc.oneof(fc.constant("local"), idLike),
      binding: fc.oneof(fc.constant("default"), idLike),
      permissions:
        capability === "logging"
          ? fc.constant([])
          : fc
              .uniqueArray(permissionsFor[capability]!, { maxLength: 5 })
              .map((ps) => ps.map((p) => parsePermission(p))),
    }),
  )
  .map((a) => validateAssignment(a));

// Fact data and error details travel as JSON text: what JSON gives back is what they can hold
// (-0 becomes 0, for one).
const json = fc
  .dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), {
    maxKeys: 4,
    noNullPrototype: true,
  })
  .map((value) => JSON.parse(JSON.stringify(value)) as Record<string, unknown>);
const u64 = fc.maxSafeNat();
const fact: fc.Arbitrary<Fact> = fc
  .record({
    seq: u64,
    source: idLike,
    sourceSeq: u64,
    kind: fc.constantFrom(...FACT_KINDS),
    instanceId: fc.option(idLike, { nil: undefined }),
    nodeId: fc.option(idLike, { nil: undefined }),
    at: u64,
    data: json,
  })
  .map(({ instanceId, nodeId, ...rest }) => ({
    ...rest,
    ...(instanceId === undefined ? {} : { instanceId }),
    ...(nodeId === undefined ? {} : { nodeId }),
  })) as unknown as fc.Arbitrary<Fact>;

/** Through the wire, as the generated code carries it. */
const viaWire = <T>(fns: pb.MessageFns<T>, message: T): T => fns.decode(fns.encode(message).finish());

describe("core ↔ protocol converters", () => {
  it("restart policies come back unchanged, over the wire too", () => {
    fc.assert(
      fc.property(restartPolicy, (policy) => {
        const proto = pb.restartPolicyToProto(policy);
        expect(pb.restartPolicyFromProto(proto)).toEqual(policy);
        expect(pb.restartPolicyFromProto(viaWire(pb.RestartPolicy, proto))).toEqual(policy);
      }),
      RUNS,
    );
  });

  it("a missing policy means never; a malformed backoff is refused as INVALID_REQUEST", () => {
    expect(pb.restartPolicyFromProto(undefined)).toEqual({ kind: "never" });
    expect(pb.restartPolicyFromProto({ policy: undefined })).toEqual({ kind: "never" });
    const backoff = (value: Partial<pb.BackoffPolicy>) => ({
      policy: {
        $case: "backoff" as const,
        value: {
          initialMs: 100,
          maxMs: 1000,
          multiplier: 2,
          jitter: 0,
          resetAfterMs: 1000,
          maxRestarts: -1,
          ...value,
        },
      },
    });
    expect(pb.restartPolicyFromProto(backoff({}))).toMatchObject({ kind: "backoff", maxRestarts: null });
    for (const bad of [
      { initialMs: 0 },
      { maxMs: 10 },
      { multiplier: 0.5 },
      { jitter: 1 },
      { resetAfterMs: 0 },
    ]) {
      expect(() => pb.restartPolicyFromProto(backoff(bad)), JSON.stringify(bad)).toThrow(
        expect.objectContaining({ code: ErrorCode.INVALID_REQUEST }),
      );
    }
  });

  it("assignments come back unchanged, over the wire too", () => {
    fc.assert(
      fc.property(assignment, (a) => {
        const proto = pb.assignmentToProto(a);
        expect(pb.assignmentFromProto(proto)).toEqual(a);
        expect(pb.assignmentFromProto(viaWire(pb.CapabilityAssignment, proto))).toEqual(a);
      }),
      RUNS,
    );
  });

  it("an assignment's empty provider and binding mean local and default; bad ones are INVALID_REQUEST", () => {
    expect(
      pb.assignmentFromProto({ capability: "keyvalue", provider: "", binding: "", permissions: [] }),
    ).toEqual({
      capability: "keyvalue",
      provider: "local",
      binding: "default",
      permissions: [],
    });
    const bad: pb.CapabilityAssignment[] = [
      { capability: "teleport", provider: "", binding: "", permissions: [] },
      { capability: "keyvalue", provider: "", binding: "", permissions: ["kv:fly"] },
      { capability: "keyvalue", provider: "", binding: "", permissions: ["http:request"] },
      { capability: "logging", provider: "", binding: "", permissions: ["kv:read"] },
      { capability: "http", provider: "has space", binding: "", permissions: [] },
      { capability: "http", provider: "", binding: "-x", permissions: [] },
    ];
    for (const a of bad) {
      expect(() => pb.assignmentFromProto(a), JSON.stringify(a)).toThrow(
        expect.objectContaining({ code: ErrorCode.INVALID_REQUEST }),
      );
    }
    expect(() => pb.assignmentFromProto(undefined)).toThrow(WasmatrixError);
  });

  it("facts come back unchanged, over the wire too", () => {
    fc.assert(
      fc.property(fact, (f) => {
        const proto = pb.factToProto(f);
        expect(pb.factFromProto(proto)).toEqual(f);
        expect(pb.factFromProto(viaWire(pb.Fact, proto))).toEqual(f);
      }),
      RUNS,
    );
  });

  it("a protocol fact whose data is not a JSON object keeps its kind and ids, with empty data", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.jsonValue().map((v) => JSON.stringify(v) ?? ""),
        ),
        (dataJson) => {
          const parsed = (() => {
            try {
              return JSON.parse(dataJson || "{}") as unknown;
            } catch {
              return undefined;
            }
          })();
          const isObject = typeof parsed === "object" && parsed !== null && !Array.isArray(parsed);
          const f = pb.factFromProto({
            seq: 1,
            source: "n1",
            sourceSeq: 1,
            kind: "instance.started",
            instanceId: "i1",
            nodeId: "",
            atMs: 5,
            dataJson,
            tenant: "",
          });
          expect(f).toMatchObject({ kind: "instance.started", instanceId: "i1", at: 5 });
          expect(f).not.toHaveProperty("nodeId");
          expect(f.data).toEqual(isObject ? parsed : {});
        },
      ),
      RUNS,
    );
  });

  it("refuses a policy the wire cannot carry instead of wrapping it", () => {
    const huge = validateRestartPolicy({ kind: "backoff", resetAfterMs: 2 ** 32 + 5, maxRestarts: 2 ** 31 });
    let sent: RestartPolicy | undefined;
    try {
      sent = pb.restartPolicyFromProto(viaWire(pb.RestartPolicy, pb.restartPolicyToProto(huge)));
    } catch (error) {
      expect(WasmatrixError.from(error).code).toBe(ErrorCode.INVALID_REQUEST);
      return;
    }
    expect(sent).toEqual(huge);
  });
});

describe("liveProviderFromMetadata", () => {
  it("names a provider with an address as alive at the given time, and skips a local one", () => {
    const record = {
      providerId: "kv-1",
      capability: "keyvalue",
      address: "10.0.0.2:7500",
      version: "1.2",
    } as const;
    expect(pb.liveProviderFromMetadata(record as never, 42)).toEqual({
      ...record,
      status: "alive",
      lastHeartbeatMs: 42,
    });
    expect(pb.liveProviderFromMetadata({ ...record, address: "local" } as never, 42)).toBeNull();
  });
});

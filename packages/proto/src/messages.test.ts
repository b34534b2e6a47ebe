import { BinaryWriter } from "@bufbuild/protobuf/wire";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import * as pb from "./index.js";

/**
 * Every protocol message survives encoding and decoding unchanged, with any field values its
 * declared wire types can carry: this is what crosses the network between client, control plane
 * and node agents. Each RPC of both services is covered through the service definition's own
 * serializers, which are what grpc-js calls.
 */

const RUNS = { numRuns: 150 };

// Field values as the wire types allow them (forceLong=number: 64-bit fields stay below 2^53).
const text = fc.string({ unit: "binary", maxLength: 24 });
const shortText = fc.string({ unit: "binary", maxLength: 8 });
const u32 = fc.oneof(
  fc.integer({ min: 0, max: 1_000 }),
  fc.maxSafeNat().map((n) => n % 2 ** 32),
);
const u64 = fc.oneof(fc.integer({ min: 0, max: 1_000 }), fc.maxSafeNat());
const i32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
// -0 is proto3's default value 0 written differently: it is not sent, and arrives as 0.
const double = fc.double({ noNaN: true }).map((x) => (Object.is(x, -0) ? 0 : x));
const bytes = fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b));
// ts-proto decodes map entries by assignment, so a `__proto__` key cannot come back (see the
// test below); every other key can.
const map = fc.dictionary(
  text.filter((k) => k !== "__proto__"),
  text,
  { maxKeys: 4, noNullPrototype: true },
);
const list = <T>(arb: fc.Arbitrary<T>) => fc.array(arb, { maxLength: 4 });
const optional = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });

const limits: fc.Arbitrary<pb.InstanceLimits> = fc.record({
  maxMemoryBytes: u64,
  fuel: u64,
  invokeTimeoutMs: u32,
  runTimeoutMs: u32,
  maxHostCallPayloadBytes: u32,
  maxOutputBytes: u32,
  maxConcurrency: u32,
  queueDepth: u32,
});
const restartPolicy: fc.Arbitrary<pb.RestartPolicy> = fc.record({
  policy: fc.oneof(
    fc.constant(undefined),
    fc.constant({ $case: "never" as const, value: {} }),
    fc.constant({ $case: "always" as const, value: {} }),
    fc
      .record({
        initialMs: u32,
        maxMs: u32,
        multiplier: double,
        jitter: double,
        resetAfterMs: u32,
        maxRestarts: i32,
      })
      .map((value) => ({ $case: "backoff" as const, value })),
  ),
});
const assignment: fc.Arbitrary<pb.CapabilityAssignment> = fc.record({
  capability: shortText,
  provider: shortText,
  binding: shortText,
  permissions: list(text),
});
const metering: fc.Arbitrary<pb.Metering> = fc.record({
  wallTimeMs: double,
  fuelUsed: u64,
  peakMemoryBytes: u64,
  hostCalls: u32,
});
const outcome: fc.Arbitrary<pb.Outcome> = fc.record({
  status: shortText,
  reason: shortText,
  trap: text,
  exitCode: i32,
  metering: optional(metering),
});
const extism: fc.Arbitrary<pb.ExtismPluginOptions> = fc.record({ config: map, maxVarBytes: u64 });
const instance: fc.Arbitrary<pb.Instance> = fc.record({
  instanceId: text,
  moduleDigest: text,
  nodeId: text,
  status: shortText,
  kind: shortText,
  restartPolicy: optional(restartPolicy),
  assignments: list(assignment),
  restarts: u32,
  lastOutcome: optional(outcome),
  createdAtMs: u64,
  updatedAtMs: u64,
  labels: map,
  limits: optional(limits),
  args: list(text),
  env: map,
  requiredNodeLabels: map,
  preferredNodeLabels: map,
  tenant: shortText,
  deniedCalls: u32,
  extism: optional(extism),
});
const provider: fc.Arbitrary<pb.Provider> = fc.record({
  providerId: text,
  capability: shortText,
  address: text,
  version: shortText,
  status: shortText,
  lastHeartbeatMs: u64,
});
const fact: fc.Arbitrary<pb.Fact> = fc.record({
  seq: u64,
  source: text,
  sourceSeq: u64,
  kind: shortText,
  instanceId: text,
  nodeId: text,
  atMs: u64,
  dataJson: text,
  tenant: shortText,
});
const node: fc.Arbitrary<pb.Node> = fc.record({
  nodeId: text,
  address: text,
  labels: map,
  capabilities: list(shortText),
  status: shortText,
  instances: u32,
  maxInstances: u32,
  lastHeartbeatMs: u64,
  version: shortText,
});
const logLine: fc.Arbitrary<pb.LogLine> = fc.record({
  instanceId: text,
  stream: shortText,
  text,
  atMs: u64,
  run: u32,
});
const startInstanceRequest: fc.Arbitrary<pb.StartInstanceRequest> = fc.record({
  instanceId: text,
  module: bytes,
  moduleDigest: text,
  args: list(text),
  env: map,
  limits: optional(limits),
  restartPolicy: optional(restartPolicy),
  assignments: list(assignment),
  labels: map,
  requiredNodeLabels: map,
  preferredNodeLabels: map,
  tenant: shortText,
  moduleRef: text,
  extism: optional(extism),
  moduleSignature: text,
});
const invokeResponse: fc.Arbitrary<pb.InvokeResponse> = fc.record({
  response: bytes,
  guestError: text,
  outcome: optional(outcome),
});
const listInstancesRequest = fc.record({ nodeId: text, status: shortText });
const listInstancesResponse: fc.Arbitrary<pb.ListInstancesResponse> = fc.record({
  instances: list(instance),
});
const empty = fc.constant({});
const tokenInfo: fc.Arbitrary<pb.TokenInfo> = fc.record({
  tokenId: text,
  role: shortText,
  tenant: shortText,
  expiresAtMs: u64,
  createdAtMs: u64,
  revoked: fc.boolean(),
});

/** Request and response arbitraries for each RPC, by the method's name in the service definition. */
const trigger = fc.record({
  name: shortText,
  cron: shortText,
  queueSubject: shortText,
  queueGroup: shortText,
  targetInstanceId: text,
  targetLabels: map,
  operation: shortText,
  data: bytes,
  createdAtMs: u64,
  nextFireAtMs: u64,
  counters: optional(fc.record({ fired: u64, failed: u64, retried: u64, deadLettered: u64, dropped: u64 })),
  deadLetterSubject: shortText,
  maxAttempts: u32,
});
const route: fc.Arbitrary<pb.Route> = fc.record({
  name: text,
  pathPrefix: text,
  host: text,
  methods: list(shortText),
  targetInstance: text,
  targetLabelKey: text,
  targetLabelValue: text,
  operation: shortText,
  createdAtMs: u64,
});
const RPCS: Record<string, [fc.Arbitrary<unknown>, fc.Arbitrary<unknown>]> = {
  startInstance: [startInstanceRequest, instance],
  stopInstance: [fc.record({ instanceId: text, deadlineMs: u32 }), instance],
  queryInstance: [
    fc.record({ instanceId: text, factLimit: u32 }),
    fc.record({ instance: optional(instance), recentFacts: list(fact) }),
  ],
  listInstances: [listInstancesRequest, listInstancesResponse],
  invoke: [fc.record({ instanceId: text, operation: text, payload: bytes }), invokeResponse],
  assignCapability: [fc.record({ instanceId: text, assignment: optional(assignment) }), instance],
  revokeCapability: [fc.record({ instanceId: text, capability: shortText, binding: shortText }), instance],
  listNodes: [empty, fc.record({ nodes: list(node) })],
  watchEvents: [
    fc.record({ afterSeq: u64, instanceId: text, kinds: list(shortText), noFollow: fc.boolean() }),
    fact,
  ],
  streamLogs: [
    fc.record({ instanceId: text, follow: fc.boolean(), tail: u32, run: u32, sinceMs: u64, grep: text }),
    logLine,
  ],
  registerNode: [
    fc.record({ node: optional(node), protocolVersion: shortText }),
    fc.record({ heartbeatIntervalMs: u32, protocolVersion: shortText }),
  ],
  reportStatus: [
    fc.record({ nodeId: text, instances: list(instance), facts: list(fact), partial: fc.boolean() }),
    fc.record({ known: fc.boolean(), providers: list(provider) }),
  ],
  deregisterNode: [fc.record({ nodeId: text }), empty],
  registerProvider: [fc.record({ provider: optional(provider), protocolVersion: shortText }), empty],
  listProviders: [empty, fc.record({ providers: list(provider) })],
  addTrigger: [fc.record({ trigger: optional(trigger) }), trigger],
  removeTrigger: [fc.record({ name: shortText }), trigger],
  listTriggers: [empty, fc.record({ triggers: list(trigger) })],
  recordDeployment: [
    fc.record({
      app: shortText,
      version: shortText,
      revision: u32,
      manifestHash: shortText,
      modules: map,
      rolledBackFrom: u32,
    }),
    fact,
  ],
  serverInfo: [
    empty,
    fc.record({ version: shortText, protocolVersion: shortText, mode: shortText, startedAtMs: u64 }),
  ],
  addRoute: [fc.record({ route: optional(route) }), route],
  removeRoute: [fc.record({ name: text }), route],
  listRoutes: [empty, fc.record({ routes: list(route) })],
  readAudit: [
    fc.record({ tenant: shortText, sinceMs: u64, limit: u32 }),
    fc.record({
      entries: list(
        fc.record({
          seq: u64,
          atMs: u64,
          who: shortText,
          action: shortText,
          target: text,
          outcome: shortText,
          tenant: shortText,
          detailsJson: text,
          prev: shortText,
          hash: shortText,
        }),
      ),
      head: shortText,
      enabled: fc.boolean(),
    }),
  ],
  createToken: [
    fc.record({ role: shortText, tenant: shortText, expiresInMs: u64 }),
    fc.record({ token: text, info: optional(tokenInfo) }),
  ],
  listTokens: [empty, fc.record({ tokens: list(tokenInfo) })],
  revokeToken: [fc.record({ tokenId: text }), tokenInfo],
  // NodeAgent-only methods.
  queryStatus: [fc.record({ instanceId: text }), instance],
  setAssignments: [fc.record({ instanceId: text, assignments: list(assignment) }), instance],
  nodeInfo: [empty, node],
  listFacts: [fc.record({ afterSeq: u64, limit: u32 }), fc.record({ facts: list(fact) })],
  // CapabilityProvider methods.
  call: [
    fc.record({
      nodeId: text,
      instanceId: text,
      binding: shortText,
      operation: shortText,
      payload: bytes,
      scope: text,
      permissions: list(text),
      remainingMs: u32,
      tenant: shortText,
    }),
    fc.record({ payload: bytes }),
  ],
  providerInfo: [empty, provider],
};

interface MethodDefinition {
  path: string;
  requestSerialize(value: unknown): Buffer;
  requestDeserialize(bytes: Buffer): unknown;
  responseSerialize(value: unknown): Buffer;
  responseDeserialize(bytes: Buffer): unknown;
}

const SERVICES = {
  ControlPlane: pb.ControlPlaneService as unknown as Record<string, MethodDefinition>,
  NodeAgent: pb.NodeAgentService as unknown as Record<string, MethodDefinition>,
  CapabilityProvider: pb.CapabilityProviderService as unknown as Record<string, MethodDefinition>,
};

describe("protocol messages", () => {
  const cases: [string, pb.MessageFns<never>, fc.Arbitrary<unknown>][] = [
    ["Instance", pb.Instance as never, instance],
    ["StartInstanceRequest", pb.StartInstanceRequest as never, startInstanceRequest],
    ["Fact", pb.Fact as never, fact],
    ["Node", pb.Node as never, node],
    ["RestartPolicy", pb.RestartPolicy as never, restartPolicy],
    ["CapabilityAssignment", pb.CapabilityAssignment as never, assignment],
    ["InvokeResponse", pb.InvokeResponse as never, invokeResponse],
    ["ListInstancesResponse", pb.ListInstancesResponse as never, listInstancesResponse],
  ];

  it.each(cases)("%s comes back from encode/decode exactly as it went in", (_, fns, arb) => {
    fc.assert(
      fc.property(arb, (message) => {
        const decoded = fns.decode(fns.encode(message as never).finish());
        expect(decoded).toEqual(message);
        // And what decoding gives is a complete message: building it again changes nothing.
        expect(fns.fromPartial(decoded as never)).toEqual(decoded);
      }),
      RUNS,
    );
  });

  it.each(Object.entries(SERVICES))(
    "every %s RPC's request and response survive its serializers",
    (_, service) => {
      for (const [method, definition] of Object.entries(service)) {
        const arbs = RPCS[method];
        expect(arbs, `no arbitraries for ${definition.path}`).toBeDefined();
        const [request, response] = arbs!;
        fc.assert(
          fc.property(request, response, (req, res) => {
            expect(definition.requestDeserialize(definition.requestSerialize(req)), definition.path).toEqual(
              req,
            );
            expect(
              definition.responseDeserialize(definition.responseSerialize(res)),
              definition.path,
            ).toEqual(res);
          }),
          { numRuns: 100 },
        );
      }
    },
  );

  it("decodes a message from a newer peer by skipping the fields it does not know", () => {
    fc.assert(
      fc.property(node, fc.integer({ min: 100, max: 10_000 }), text, u64, (message, field, extra, number) => {
        const writer = pb.Node.encode(message);
        writer.uint32((field << 3) | 2).string(extra);
        writer.uint32(((field + 1) << 3) | 0).uint64(number);
        expect(pb.Node.decode(writer.finish())).toEqual(message);
      }),
      RUNS,
    );
  });

  it("reads a 64-bit field beyond 2^53 as an error, never as a rounded number", () => {
    const writer = new BinaryWriter();
    writer.uint32((7 << 3) | 0).uint64(2n ** 60n);
    expect(() => pb.Node.decode(writer.finish())).toThrow(/MAX_SAFE_INTEGER/);
  });

  it("drops a map key named __proto__ instead of polluting the decoded object", () => {
    const env = JSON.parse('{"__proto__":"x","PATH":"/bin"}') as Record<string, string>;
    const decoded = pb.StartInstanceRequest.decode(
      pb.StartInstanceRequest.encode(pb.StartInstanceRequest.fromPartial({})).finish(),
    );
    expect(decoded.env).toEqual({});
    const bytesWithProto = pb.StartInstanceRequest.encode({
      ...pb.StartInstanceRequest.fromPartial({}),
      env,
    }).finish();
    const withProto = pb.StartInstanceRequest.decode(bytesWithProto);
    expect(Object.keys(withProto.env)).toEqual(["PATH"]);
    expect(Object.getPrototypeOf(withProto.env)).toBe(Object.prototype);
  });
});

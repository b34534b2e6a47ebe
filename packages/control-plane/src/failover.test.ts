import * as pb from "@wasmatrix/proto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { planFailover } from "./failover.js";
import type { PlacementCandidate } from "./placement.js";

/**
 * Failover's plan over arbitrary nodes and lost instances: no start on a node that is lost, lacks
 * a capability or label, or is full (counting the plan's own starts); no instance planned twice;
 * `pending` only when no live node matches at all.
 */

const CAPABILITIES = ["keyvalue", "messaging", "http"];
const ZONES = ["a", "b"];

const candidates: fc.Arbitrary<PlacementCandidate[]> = fc.uniqueArray(
  fc.record({
    nodeId: fc.constantFrom("n0", "n1", "n2", "n3", "n4", "n5"),
    labels: fc.oneof(fc.constant({}), fc.record({ zone: fc.constantFrom(...ZONES) })),
    capabilities: fc.subarray(["logging", ...CAPABILITIES]),
    alive: fc.boolean(),
    instances: fc.integer({ min: 0, max: 4 }),
    maxInstances: fc.integer({ min: 0, max: 4 }),
  }),
  { selector: (n) => n.nodeId, maxLength: 6 },
);

const policy = fc.constantFrom("always", "backoff", "never");

const lost = fc.array(
  fc.record({
    id: fc.integer({ min: 0, max: 9 }),
    nodeId: fc.constantFrom("n0", "n1", "n2", "n3", "n4", "n5"),
    policy,
    capabilities: fc.subarray(["logging", ...CAPABILITIES], { maxLength: 2 }),
    zone: fc.option(fc.constantFrom(...ZONES), { nil: undefined }),
  }),
  { maxLength: 12 },
);

function lostInstance(spec: {
  id: number;
  nodeId: string;
  policy: string;
  capabilities: string[];
  zone: string | undefined;
}): pb.Instance {
  const restart: pb.RestartPolicy =
    spec.policy === "backoff"
      ? {
          policy: { $case: "backoff", value: pb.BackoffPolicy.fromPartial({ initialMs: 100, maxMs: 1_000 }) },
        }
      : { policy: { $case: spec.policy as "always" | "never", value: {} } };
  return pb.Instance.fromPartial({
    instanceId: `i${spec.id}`,
    nodeId: spec.nodeId,
    status: "lost",
    kind: "reactor",
    moduleDigest: `sha256:${"a".repeat(64)}`,
    restartPolicy: restart,
    assignments: spec.capabilities.map((capability) => ({ capability, binding: "", permissions: [] })),
    requiredNodeLabels: spec.zone === undefined ? {} : { zone: spec.zone },
  });
}

/** Whether the node could run the instance, its load aside. */
function matches(node: PlacementCandidate, instance: pb.Instance): boolean {
  return (
    node.alive &&
    instance.assignments.every(
      (a) => a.capability === "logging" || node.capabilities.includes(a.capability),
    ) &&
    Object.entries(instance.requiredNodeLabels).every(([k, v]) => node.labels[k] === v)
  );
}

describe("failover", () => {
  it("never plans an instance onto an ineligible or full node, nor plans one twice", () => {
    fc.assert(
      fc.property(candidates, lost, (nodes, specs) => {
        const instances = specs.map(lostInstance);
        const before = structuredClone(nodes);
        const plan = planFailover(instances, nodes);
        expect(nodes).toEqual(before);

        const planned = [
          ...plan.starts.map((s) => s.instance.instanceId),
          ...plan.pending.map((p) => p.instance.instanceId),
          ...plan.refused.map((r) => r.instance.instanceId),
        ];
        expect(new Set(planned).size).toBe(planned.length);
        const restartable = new Set(
          instances.filter((i) => i.restartPolicy?.policy?.$case !== "never").map((i) => i.instanceId),
        );
        expect(new Set(planned)).toEqual(restartable);

        const byId = new Map(nodes.map((n) => [n.nodeId, n]));
        const startsOn = new Map<string, number>();
        for (const { instance, nodeId } of plan.starts) {
          const node = byId.get(nodeId)!;
          expect(matches(node, instance)).toBe(true);
          startsOn.set(nodeId, (startsOn.get(nodeId) ?? 0) + 1);
        }
        for (const [nodeId, started] of startsOn) {
          const { maxInstances = 0, instances: running } = byId.get(nodeId)!;
          if (maxInstances > 0) expect(running + started).toBeLessThanOrEqual(maxInstances);
        }
        for (const { instance } of plan.pending) {
          expect(nodes.some((n) => matches(n, instance))).toBe(false);
        }
        for (const { instance, error } of plan.refused) {
          expect(error.code).toBe("RESOURCE_EXHAUSTED");
          const eligible = nodes.filter((n) => matches(n, instance));
          expect(eligible.length).toBeGreaterThan(0);
          // Each was full once the plan's earlier starts are counted.
          for (const n of eligible) {
            expect(
              n.maxInstances! > 0 && n.instances + (startsOn.get(n.nodeId) ?? 0) >= n.maxInstances!,
            ).toBe(true);
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it("keeps an instance on its previous node when that node is alive and eligible", () => {
    const nodes: PlacementCandidate[] = [
      { nodeId: "na", labels: {}, capabilities: [], alive: true, instances: 0 },
      { nodeId: "nb", labels: {}, capabilities: [], alive: true, instances: 3 },
    ];
    const instance = lostInstance({
      id: 1,
      nodeId: "nb",
      policy: "always",
      capabilities: [],
      zone: undefined,
    });
    expect(planFailover([instance], nodes).starts).toEqual([{ instance, nodeId: "nb" }]);
  });
});

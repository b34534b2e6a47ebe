import { ErrorCode, WasmatrixError } from "@wasmatrix/core";
import * as pb from "@wasmatrix/proto";
import { Placement, type PlacementCandidate, placementRequest } from "./placement.js";

export interface FailoverPlan {
  /** Instances to start again, each on the node chosen for it. */
  starts: { instance: pb.Instance; nodeId: string }[];
  /** Instances no node can take now: they wait as `pending`, `detail` saying why. */
  pending: { instance: pb.Instance; detail: string }[];
  /** Instances that cannot move for another reason (every eligible node full): they stay lost. */
  refused: { instance: pb.Instance; error: WasmatrixError }[];
}

/** Whether a lost instance is started again elsewhere: only `always` and `backoff` ones are. */
export function restartsElsewhere(instance: pb.Instance): boolean {
  const policy = instance.restartPolicy?.policy?.$case;
  return policy === "always" || policy === "backoff";
}

/**
 * Decides where lost instances go, over the nodes as they are now: each instance whose policy
 * restarts it is placed as a start would be (its previous node preferred), and the instances
 * placed before it count as load, so one plan never fills a node beyond its maximum. Each instance
 * appears once in the plan, in id order so every control plane plans the same way. Pure: it
 * starts nothing and changes nothing it is given.
 */
export function planFailover(
  instances: readonly pb.Instance[],
  nodes: readonly PlacementCandidate[],
): FailoverPlan {
  const plan: FailoverPlan = { starts: [], pending: [], refused: [] };
  const placement = new Placement(nodes.map((n) => ({ ...n })));
  const load = new Map(nodes.map((n) => [n.nodeId, n.instances]));
  const seen = new Set<string>();
  const ordered = [...instances].sort((a, b) =>
    a.instanceId < b.instanceId ? -1 : a.instanceId > b.instanceId ? 1 : 0,
  );
  for (const instance of ordered) {
    if (!restartsElsewhere(instance) || seen.has(instance.instanceId)) continue;
    seen.add(instance.instanceId);
    try {
      const nodeId = placement.place(placementRequest(pb.startRequestFor(instance)), instance.nodeId);
      const placed = (load.get(nodeId) ?? 0) + 1;
      load.set(nodeId, placed);
      placement.setInstances(nodeId, placed);
      plan.starts.push({ instance, nodeId });
    } catch (error) {
      const refusal = WasmatrixError.from(error);
      if (refusal.code === ErrorCode.NODE_UNAVAILABLE) {
        plan.pending.push({ instance, detail: refusalText(refusal) });
      } else {
        plan.refused.push({ instance, error: refusal });
      }
    }
  }
  return plan;
}

/** A placement refusal's per-node reasons as one line: `nb: node is lost; nc: label zone=b missing`. */
export function refusalText(error: WasmatrixError): string {
  const rejected = error.details["rejected"];
  if (typeof rejected !== "object" || rejected === null || Object.keys(rejected).length === 0) {
    return error.message;
  }
  // By node id: placement lists nodes in the order they registered, which varies run to run.
  return Object.entries(rejected as Record<string, unknown>)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([nodeId, reason]) => `${nodeId}: ${String(reason)}`)
    .join("; ");
}

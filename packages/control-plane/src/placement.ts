import { ErrorCode, WasmatrixError } from "@wasmatrix/core";

export interface PlacementCandidate {
  nodeId: string;
  labels: Readonly<Record<string, string>>;
  capabilities: readonly string[];
  alive: boolean;
  instances: number;
}

export interface PlacementRequest {
  /** Capabilities the instance is assigned: the node must serve each. */
  capabilities: readonly string[];
  required: Readonly<Record<string, string>>;
  preferred: Readonly<Record<string, string>>;
}

/**
 * Picks the node for a new instance: among live nodes that serve every assigned capability and
 * carry every required label, the one matching most preferred labels, then the least loaded,
 * then the smallest id (so equal candidates give the same answer every time).
 */
export function place(candidates: Iterable<PlacementCandidate>, request: PlacementRequest): string {
  let best: PlacementCandidate | undefined;
  let bestScore = -1;
  let rejectedCount = 0;
  // Why nodes were passed over is kept for the first few only: it is for error messages.
  const rejected: Record<string, string> = {};
  const preferred = Object.entries(request.preferred);
  const required = Object.entries(request.required);
  for (const node of candidates) {
    const reason = ineligible(node, request.capabilities, required);
    if (reason !== null) {
      if (rejectedCount++ < 20) rejected[node.nodeId] = reason;
      continue;
    }
    let score = 0;
    for (const [key, value] of preferred) if (node.labels[key] === value) score++;
    if (
      best === undefined ||
      score > bestScore ||
      (score === bestScore &&
        (node.instances < best.instances || (node.instances === best.instances && node.nodeId < best.nodeId)))
    ) {
      best = node;
      bestScore = score;
    }
  }
  if (best === undefined) {
    throw new WasmatrixError(
      ErrorCode.NODE_UNAVAILABLE,
      rejectedCount === 0
        ? "no node is registered; start a node agent or use `wasmatrix up`"
        : "no eligible node for this instance; see details for why each node was passed over",
      { rejected },
    );
  }
  return best.nodeId;
}

function ineligible(
  node: PlacementCandidate,
  capabilities: readonly string[],
  required: readonly [string, string][],
): string | null {
  if (!node.alive) return "node is lost";
  for (const capability of capabilities) {
    if (!node.capabilities.includes(capability)) return `does not serve ${capability}`;
  }
  for (const [key, value] of required) {
    if (node.labels[key] !== value) return `label ${key}=${value} missing`;
  }
  return null;
}

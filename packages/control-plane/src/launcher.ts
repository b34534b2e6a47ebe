import { ErrorCode, WasmatrixError } from "@wasmatrix/core";
import type { Logger } from "@wasmatrix/core/logger";
import type * as pb from "@wasmatrix/proto";
import type { ModuleStore } from "./module-store.js";
import type { NodeTable } from "./node-table.js";
import { placementRequest } from "./placement.js";
import type { ModuleSignatures } from "./signatures.js";

/**
 * Starts instances on nodes: the one place where a start's module is looked up, the node chosen,
 * the module kept (to start the instance again elsewhere after a node loss) and the start sent.
 */
export class Launcher {
  constructor(
    private readonly nodes: NodeTable,
    private readonly modules: ModuleStore,
    private readonly logger: Logger,
    private readonly signatures: ModuleSignatures,
  ) {}

  /**
   * Places and starts `request` on a node (`nodeId` when failover chose it; otherwise the one that
   * ran the instance before is preferred) and puts the instance in the table.
   */
  async launch(request: pb.StartInstanceRequest, nodeId?: string): Promise<pb.Instance> {
    if (request.module.byteLength === 0 && request.moduleDigest !== "") {
      // A start by digest (an instance started again, on a node that may never have had it)
      // carries the bytes when they passed through here before.
      const module = this.modules.get(request.moduleDigest);
      if (module !== undefined) request = { ...request, module };
    }
    // A node with trusted keys checks the signature again, wherever the instance goes.
    request = this.signatures.attach(request);
    const previous = this.nodes.instances.get(request.instanceId)?.nodeId;
    const target =
      nodeId ??
      this.nodes.placement.place(
        placementRequest(request),
        previous !== undefined && this.nodes.isAlive(previous) ? previous : undefined,
      );
    const instance = await this.startOn(target, request);
    this.nodes.instances.set(instance);
    // Kept once it runs, and pinned while it does (see moduleInUse).
    if (request.module.byteLength > 0) this.modules.put(request.module);
    this.signatures.remember(request);
    return instance;
  }

  /**
   * Starts on the chosen node; one that answers it is full (its count here lagged behind its own)
   * is marked so and the next eligible node is tried, until placement has none left. Reports
   * arriving meanwhile may make a full node look free again, so the tries are bounded too.
   */
  private async startOn(nodeId: string, request: pb.StartInstanceRequest): Promise<pb.Instance> {
    for (let tries = 1; ; tries++) {
      try {
        return await this.nodes.alive(nodeId).api.startInstance(request);
      } catch (error) {
        const full = nodeFull(error);
        if (full === null || tries > this.nodes.size) throw error;
        this.nodes.markFull(nodeId, full);
        this.logger.info({ nodeId, ...full }, "node is full; placing the instance elsewhere");
        nodeId = this.nodes.placement.place(placementRequest(request));
      }
    }
  }
}

/** A node's refusal because it holds all it can (see the runtime's capacityExhausted). */
function nodeFull(error: unknown): { maxInstances: number; running: number } | null {
  if (!WasmatrixError.is(error) || error.code !== ErrorCode.RESOURCE_EXHAUSTED) return null;
  const { reason, maxInstances, running } = error.details;
  if (reason !== "capacity" || typeof maxInstances !== "number" || typeof running !== "number") return null;
  return { maxInstances, running };
}

import { isEnded } from "@wasmatrix/core";
import type * as pb from "@wasmatrix/proto";

/**
 * Every instance as its node last reported it, indexed by node too, so a node's report, loss or
 * departure touches that node's instances only, and each node's count of instances still active
 * (the load placement weighs) is kept as instances change instead of recounted.
 */
export class InstanceTable {
  private readonly byId = new Map<string, pb.Instance>();
  private readonly byNode = new Map<string, Map<string, pb.Instance>>();
  private readonly active = new Map<string, number>();

  /** `onLoad` hears each change of a node's count of active instances. */
  constructor(private readonly onLoad: (nodeId: string, active: number) => void) {}

  get size(): number {
    return this.byId.size;
  }

  get(instanceId: string): pb.Instance | undefined {
    return this.byId.get(instanceId);
  }

  values(): IterableIterator<pb.Instance> {
    return this.byId.values();
  }

  /** The instances on `nodeId` with `status` ("" for any), oldest first. */
  select(filter: { nodeId: string; status: string }): pb.Instance[] {
    const instances: pb.Instance[] = [];
    for (const instance of this.byId.values()) {
      if (filter.nodeId !== "" && instance.nodeId !== filter.nodeId) continue;
      if (filter.status !== "" && instance.status !== filter.status) continue;
      instances.push(instance);
    }
    return instances.sort(
      (a, b) => a.createdAtMs - b.createdAtMs || a.instanceId.localeCompare(b.instanceId),
    );
  }

  /** The node's instances; safe to change the table while iterating. */
  onNode(nodeId: string): pb.Instance[] {
    return [...(this.byNode.get(nodeId)?.values() ?? [])];
  }

  activeOn(nodeId: string): number {
    return this.active.get(nodeId) ?? 0;
  }

  set(instance: pb.Instance): void {
    this.delete(instance.instanceId);
    this.byId.set(instance.instanceId, instance);
    let onNode = this.byNode.get(instance.nodeId);
    if (onNode === undefined) {
      onNode = new Map();
      this.byNode.set(instance.nodeId, onNode);
    }
    onNode.set(instance.instanceId, instance);
    if (!isEnded(instance.status)) this.count(instance.nodeId, 1);
  }

  delete(instanceId: string): void {
    const instance = this.byId.get(instanceId);
    if (instance === undefined) return;
    this.byId.delete(instanceId);
    const onNode = this.byNode.get(instance.nodeId)!;
    onNode.delete(instanceId);
    if (onNode.size === 0) this.byNode.delete(instance.nodeId);
    if (!isEnded(instance.status)) this.count(instance.nodeId, -1);
  }

  private count(nodeId: string, delta: number): void {
    const active = (this.active.get(nodeId) ?? 0) + delta;
    if (active === 0) this.active.delete(nodeId);
    else this.active.set(nodeId, active);
    this.onLoad(nodeId, active);
  }
}

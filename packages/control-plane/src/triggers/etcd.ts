import type { Logger } from "@wasmatrix/core/logger";
import type { EtcdMetadata } from "@wasmatrix/etcd";
import * as pb from "@wasmatrix/proto";
import { type TriggerStore, type TriggerStoreHandlers, triggerExists } from "./store.js";
import type { TickClaims } from "./tick-claims.js";

/**
 * Trigger definitions in etcd under `/wasmatrix/v1/triggers/<name>` (through the key guard):
 * every control plane watches them, and they outlive any control plane's restart.
 */
export class EtcdTriggerStore implements TriggerStore {
  constructor(
    private readonly etcd: EtcdMetadata,
    private readonly logger: Logger,
  ) {}

  async watch(handlers: TriggerStoreHandlers) {
    return this.etcd.watchTriggers({
      onPut: ({ name, json }) => {
        try {
          handlers.put(pb.Trigger.fromJSON(JSON.parse(json)));
        } catch (error) {
          this.logger.warn({ err: error, trigger: name }, "triggers: unreadable record in etcd");
        }
      },
      onDelete: (name) => handlers.delete(name),
      onInvalid: (key, error) => this.logger.warn({ err: error, key }, "triggers: invalid key in etcd"),
    });
  }

  async create(trigger: pb.Trigger): Promise<void> {
    const json = JSON.stringify(pb.Trigger.toJSON(trigger));
    if (!(await this.etcd.createTrigger(trigger.name, json))) throw triggerExists(trigger.name);
  }

  remove(name: string): Promise<boolean> {
    return this.etcd.deleteTrigger(name);
  }
}

/** Ticks claimed in etcd: a key per (trigger, scheduled time), created by the first claimant only. */
export function etcdTickClaims(etcd: EtcdMetadata, owner: string): TickClaims {
  return { claim: (name, at) => etcd.claimTick(name, at, owner) };
}

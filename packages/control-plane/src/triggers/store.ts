import { ErrorCode, WasmatrixError } from "@wasmatrix/core";
import type * as pb from "@wasmatrix/proto";

export interface TriggerStoreHandlers {
  put(trigger: pb.Trigger): void;
  delete(name: string): void;
}

/**
 * Where trigger definitions live. Every control plane watches the same store and schedules what
 * it holds: in memory for one control plane (embedded mode, or a daemon without etcd: gone with
 * the process), in etcd for a cluster (kept across restarts, shared by every control plane).
 */
export interface TriggerStore {
  /** Calls `put` for every stored trigger, then for each change, until closed. */
  watch(handlers: TriggerStoreHandlers): Promise<{ close(): Promise<void> }>;
  /** Stores a new trigger; ALREADY_EXISTS when the name is taken. */
  create(trigger: pb.Trigger): Promise<void>;
  /** Deletes it; false when there was none. */
  remove(name: string): Promise<boolean>;
}

export function triggerExists(name: string): WasmatrixError {
  return new WasmatrixError(
    ErrorCode.ALREADY_EXISTS,
    `trigger '${name}' already exists; remove it first (wasmatrix trigger remove ${name}) or pick another name`,
    { trigger: name },
  );
}

/** Triggers of one process, lost when it ends. */
export class MemoryTriggerStore implements TriggerStore {
  private readonly triggers = new Map<string, pb.Trigger>();
  private readonly watchers = new Set<TriggerStoreHandlers>();

  async watch(handlers: TriggerStoreHandlers) {
    for (const trigger of this.triggers.values()) handlers.put(trigger);
    this.watchers.add(handlers);
    return { close: async () => void this.watchers.delete(handlers) };
  }

  async create(trigger: pb.Trigger): Promise<void> {
    if (this.triggers.has(trigger.name)) throw triggerExists(trigger.name);
    this.triggers.set(trigger.name, trigger);
    for (const w of this.watchers) w.put(trigger);
  }

  async remove(name: string): Promise<boolean> {
    if (!this.triggers.delete(name)) return false;
    for (const w of this.watchers) w.delete(name);
    return true;
  }
}

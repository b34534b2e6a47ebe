import { ErrorCode, WasmatrixError } from "@wasmatrix/core";
import type * as pb from "@wasmatrix/proto";

export interface PlacementCandidate {
  nodeId: string;
  labels: Readonly<Record<string, string>>;
  capabilities: readonly string[];
  alive: boolean;
  instances: number;
  /** Instances the node runs at most; it is full, and passed over, once `instances` reaches it. 0 or absent: no limit known. */
  maxInstances?: number;
}

export interface PlacementRequest {
  /** Capabilities the instance is assigned: the node must serve each. */
  capabilities: readonly string[];
  required: Readonly<Record<string, string>>;
  preferred: Readonly<Record<string, string>>;
}

/** The start of the reason given for a node passed over because it runs all it can hold. */
const FULL_REASON = "node is full";

/** Why nodes were passed over is kept for the first few only: it is for error messages. */
const MAX_REASONS = 20;

/** The slots (nodes) that have one property: a bit per slot, and how many bits are set. */
interface Members {
  bits: Uint32Array;
  count: number;
}

/**
 * The nodes placement chooses among, kept as bit sets: one of live nodes, one per capability and
 * one per label `key=value`. A decision ANDs the sets the request requires, 32 nodes a step, and
 * looks only at the nodes left: no allocation per node, no string comparison, no property
 * lookup. The control plane keeps one and updates it as nodes register, report and get lost.
 *
 * The rule: among live nodes that are not full and that serve every assigned capability and
 * carry every required label, the one matching most preferred labels, then the least loaded, then the smallest id (so
 * equal candidates give the same answer every time).
 */
export class Placement {
  private count = 0;
  private capacity = 32;
  private readonly ids: string[] = [];
  private readonly entries: PlacementCandidate[] = [];
  private alive = new Uint32Array(1);
  /** Nodes whose instances reached their maximum. */
  private full = new Uint32Array(1);
  private load = new Float64Array(32);
  /** Each slot's place in id order, so ties are broken without comparing strings. */
  private rank = new Int32Array(32);
  private readonly sorted: string[] = [];
  private readonly slots = new Map<string, number>();
  /** capability → the nodes that serve it. Empty sets go. */
  private readonly capabilities = new Map<string, Members>();
  /** label key → value → the nodes that carry it. Empty sets go. */
  private readonly labels = new Map<string, Map<string, Members>>();
  /** The sets a decision ANDs and the ones it counts, reused so a decision allocates nothing. */
  private readonly required: Uint32Array[] = [];
  private readonly preferred: Uint32Array[] = [];

  constructor(candidates: Iterable<PlacementCandidate> = []) {
    for (const candidate of candidates) this.set(candidate);
  }

  get size(): number {
    return this.count;
  }

  /** Copies of the nodes as placement sees them now (load included). */
  candidates(): PlacementCandidate[] {
    return this.entries.slice(0, this.count).map((c) => ({ ...c }));
  }

  /** Adds a node, or replaces what is known of it. */
  set(candidate: PlacementCandidate): void {
    let slot = this.slots.get(candidate.nodeId);
    if (slot === undefined) {
      if (this.count === this.capacity) this.grow();
      slot = this.count++;
      this.slots.set(candidate.nodeId, slot);
      const at = insertionPoint(this.sorted, candidate.nodeId);
      this.sorted.splice(at, 0, candidate.nodeId);
      for (let other = 0; other < slot; other++) if (this.rank[other]! >= at) this.rank[other]!++;
      this.rank[slot] = at;
    } else {
      this.clear(slot);
    }
    this.fill(slot, candidate);
  }

  delete(nodeId: string): void {
    const slot = this.slots.get(nodeId);
    if (slot === undefined) return;
    this.slots.delete(nodeId);
    this.clear(slot);
    const gone = this.rank[slot]!;
    this.sorted.splice(gone, 1);
    for (let other = 0; other < this.count; other++) if (this.rank[other]! > gone) this.rank[other]!--;
    const last = --this.count;
    if (slot !== last) {
      const moved = this.entries[last]!;
      this.clear(last);
      this.slots.set(moved.nodeId, slot);
      this.fill(slot, moved);
      this.rank[slot] = this.rank[last]!;
    }
    this.ids.length = last;
    this.entries.length = last;
  }

  setAlive(nodeId: string, alive: boolean): void {
    const slot = this.slots.get(nodeId);
    if (slot === undefined) return;
    this.entries[slot]!.alive = alive;
    if (alive) this.alive[slot >>> 5]! |= 1 << (slot & 31);
    else this.alive[slot >>> 5]! &= ~(1 << (slot & 31));
  }

  setInstances(nodeId: string, instances: number): void {
    const slot = this.slots.get(nodeId);
    if (slot === undefined) return;
    this.load[slot] = instances;
    this.entries[slot]!.instances = instances;
    this.markFull(slot);
  }

  /** What the node says it holds at most (0: no limit known). */
  setMaxInstances(nodeId: string, maxInstances: number): void {
    const slot = this.slots.get(nodeId);
    if (slot === undefined) return;
    this.entries[slot]!.maxInstances = maxInstances;
    this.markFull(slot);
  }

  /**
   * The node for a new instance. `sticky` names a node that counts as unloaded: the one that ran
   * the instance before keeps it, since its module is cached there.
   */
  place(request: PlacementRequest, sticky?: string): string {
    let best = -1;
    if (this.compile(request)) {
      const { required, preferred } = this;
      const stickySlot = sticky === undefined ? -1 : (this.slots.get(sticky) ?? -1);
      const words = (this.count + 31) >>> 5;
      let bestScore = -1;
      let bestLoad = 0;
      for (let word = 0; word < words; word++) {
        let bits = this.alive[word]! & ~this.full[word]!;
        for (let i = 0; i < required.length && bits !== 0; i++) bits &= required[i]![word]!;
        while (bits !== 0) {
          const bit = bits & -bits;
          bits ^= bit;
          const slot = (word << 5) | (31 - Math.clz32(bit));
          let score = 0;
          for (let i = 0; i < preferred.length; i++) if ((preferred[i]![word]! & bit) !== 0) score++;
          const load = slot === stickySlot ? -1 : this.load[slot]!;
          if (
            best === -1 ||
            score > bestScore ||
            (score === bestScore &&
              (load < bestLoad || (load === bestLoad && this.rank[slot]! < this.rank[best]!)))
          ) {
            best = slot;
            bestScore = score;
            bestLoad = load;
          }
        }
      }
    }
    if (best === -1) throw this.refusal(request);
    return this.ids[best]!;
  }

  /** Gathers the bit sets a request needs; false when some requirement no node meets. */
  private compile(request: PlacementRequest): boolean {
    this.required.length = 0;
    this.preferred.length = 0;
    for (const capability of request.capabilities) {
      const members = this.capabilities.get(capability);
      if (members === undefined) return false;
      this.required.push(members.bits);
    }
    for (const key in request.required) {
      const members = this.labels.get(key)?.get(request.required[key]!);
      if (members === undefined) return false;
      this.required.push(members.bits);
    }
    for (const key in request.preferred) {
      const members = this.labels.get(key)?.get(request.preferred[key]!);
      if (members !== undefined) this.preferred.push(members.bits);
    }
    return true;
  }

  private refusal(request: PlacementRequest): WasmatrixError {
    const rejected: Record<string, string> = {};
    let reasons = 0;
    let full = 0;
    for (let slot = 0; slot < this.count; slot++) {
      const reason = ineligible(this.entries[slot]!, request);
      if (reason === null) continue;
      if (reason.startsWith(FULL_REASON)) full++;
      if (reasons < MAX_REASONS) {
        rejected[this.ids[slot]!] = reason;
        reasons++;
      }
    }
    // Some node could run it but for its load: a limit, not a mismatch, and the caller can act on it.
    if (full > 0) {
      return new WasmatrixError(
        ErrorCode.RESOURCE_EXHAUSTED,
        `every node that could run this instance is full (${full} at their instance limit); ` +
          "add a node, run more runtime shards or a higher --max-instances, or stop instances you no longer need",
        { reason: "capacity", limit: "max_instances", fullNodes: full, rejected },
      );
    }
    return new WasmatrixError(
      ErrorCode.NODE_UNAVAILABLE,
      this.count === 0
        ? "no node is registered; start a node agent or use `wasmatrix up`"
        : "no eligible node for this instance; see details for why each node was passed over",
      { rejected },
    );
  }

  private fill(slot: number, candidate: PlacementCandidate): void {
    const copy = { ...candidate, capabilities: [...new Set(candidate.capabilities)] };
    this.entries[slot] = copy;
    this.ids[slot] = copy.nodeId;
    this.load[slot] = copy.instances;
    if (copy.alive) this.alive[slot >>> 5]! |= 1 << (slot & 31);
    this.markFull(slot);
    const words = this.capacity >>> 5;
    for (const capability of copy.capabilities) join(this.capabilities, capability, slot, words);
    for (const [key, value] of Object.entries(copy.labels)) {
      let values = this.labels.get(key);
      if (values === undefined) {
        values = new Map();
        this.labels.set(key, values);
      }
      join(values, value, slot, words);
    }
  }

  private markFull(slot: number): void {
    if (isFull(this.entries[slot]!)) this.full[slot >>> 5]! |= 1 << (slot & 31);
    else this.full[slot >>> 5]! &= ~(1 << (slot & 31));
  }

  private clear(slot: number): void {
    this.alive[slot >>> 5]! &= ~(1 << (slot & 31));
    this.full[slot >>> 5]! &= ~(1 << (slot & 31));
    const candidate = this.entries[slot]!;
    for (const capability of candidate.capabilities) leave(this.capabilities, capability, slot);
    for (const [key, value] of Object.entries(candidate.labels)) {
      const values = this.labels.get(key)!;
      leave(values, value, slot);
      if (values.size === 0) this.labels.delete(key);
    }
  }

  private grow(): void {
    this.capacity *= 2;
    const words = this.capacity >>> 5;
    const grown = (from: Uint32Array) => {
      const to = new Uint32Array(words);
      to.set(from);
      return to;
    };
    this.alive = grown(this.alive);
    this.full = grown(this.full);
    for (const members of this.capabilities.values()) members.bits = grown(members.bits);
    for (const values of this.labels.values()) {
      for (const members of values.values()) members.bits = grown(members.bits);
    }
    const load = new Float64Array(this.capacity);
    load.set(this.load);
    this.load = load;
    const rank = new Int32Array(this.capacity);
    rank.set(this.rank);
    this.rank = rank;
  }
}

/** Where `id` goes in the sorted `ids`. */
function insertionPoint(ids: readonly string[], id: string): number {
  let low = 0;
  let high = ids.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (ids[middle]! < id) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** Puts `slot` in the set named `name`, making the set if it is new. */
function join(sets: Map<string, Members>, name: string, slot: number, words: number): void {
  let members = sets.get(name);
  if (members === undefined) {
    members = { bits: new Uint32Array(words), count: 0 };
    sets.set(name, members);
  }
  members.bits[slot >>> 5]! |= 1 << (slot & 31);
  members.count++;
}

/** Takes `slot` out of the set named `name`, and drops the set once it is empty. */
function leave(sets: Map<string, Members>, name: string, slot: number): void {
  const members = sets.get(name)!;
  members.bits[slot >>> 5]! &= ~(1 << (slot & 31));
  if (--members.count === 0) sets.delete(name);
}

/** What placement needs of a start: `logging` is served by every node, so it is no requirement. */
export function placementRequest(request: pb.StartInstanceRequest): PlacementRequest {
  return {
    capabilities: [...new Set(request.assignments.map((a) => a.capability))].filter((c) => c !== "logging"),
    required: request.requiredNodeLabels,
    preferred: request.preferredNodeLabels,
  };
}

/** One decision over a list of candidates; the control plane keeps a `Placement` instead. */
export function place(candidates: Iterable<PlacementCandidate>, request: PlacementRequest): string {
  return new Placement(candidates).place(request);
}

function isFull(node: PlacementCandidate): boolean {
  return node.maxInstances !== undefined && node.maxInstances > 0 && node.instances >= node.maxInstances;
}

function ineligible(node: PlacementCandidate, request: PlacementRequest): string | null {
  if (!node.alive) return "node is lost";
  for (const capability of request.capabilities) {
    if (!node.capabilities.includes(capability)) return `does not serve ${capability}`;
  }
  for (const [key, value] of Object.entries(request.required)) {
    if (node.labels[key] !== value) return `label ${key}=${value} missing`;
  }
  if (isFull(node)) return `${FULL_REASON}: ${node.instances} of ${node.maxInstances} instances`;
  return null;
}

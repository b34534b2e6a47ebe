import {
  type CapabilityAssignment,
  type CapabilityKind,
  DEFAULT_BINDING,
  findAssignment,
  LOCAL_PROVIDER,
  MAX_ASSIGNMENTS_PER_INSTANCE,
  validateAssignment,
} from "./capabilities.js";
import { ErrorCode, errors, WasmatrixError } from "./errors.js";
import { type InstanceId, type ModuleDigest, NodeId, type ProviderId } from "./ids.js";
import {
  type InstanceMetadata,
  type InstanceMetadataInput,
  type ProviderMetadata,
  validateInstanceMetadata,
  validateProviderMetadata,
} from "./metadata.js";
import { type InstanceStatus, parseInstanceStatus, transition } from "./status.js";
import { invalid, requireCount } from "./validation.js";

/**
 * Instance and provider metadata, in two maps that never mix: an `InstanceId` keys one and a
 * `ProviderId` the other, so an instance can never be read back as a provider. Records are
 * validated against an allow-list of fields (see metadata.ts), frozen, and replaced — never
 * mutated — on change. In memory only; the control plane rebuilds it from node reports.
 */

export const DEFAULT_MAX_INSTANCES = 100_000;
export const DEFAULT_MAX_PROVIDERS = 10_000;

export interface MetadataRegistryOptions {
  /** Clock for createdAt / updatedAt. @default Date.now */
  now?: () => number;
  /** Instances held at most; one more is RESOURCE_EXHAUSTED. @default DEFAULT_MAX_INSTANCES */
  maxInstances?: number;
  /** Providers held at most. @default DEFAULT_MAX_PROVIDERS */
  maxProviders?: number;
}

export interface InstanceFilter {
  status?: InstanceStatus | readonly InstanceStatus[];
  /** A node id, or null for unplaced instances. */
  nodeId?: NodeId | string | null;
  moduleDigest?: ModuleDigest | string;
  /** Every label given must be present with that value. */
  labels?: Readonly<Record<string, string>>;
}

export interface ProviderFilter {
  capability?: CapabilityKind;
  nodeId?: NodeId | string;
}

export class MetadataRegistry {
  readonly #now: () => number;
  readonly #maxInstances: number;
  readonly #maxProviders: number;
  readonly #instances = new Map<InstanceId, InstanceMetadata>();
  readonly #providers = new Map<ProviderId, ProviderMetadata>();

  constructor(options: MetadataRegistryOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#maxInstances = requireCount("maxInstances", options.maxInstances ?? DEFAULT_MAX_INSTANCES, 1);
    this.#maxProviders = requireCount("maxProviders", options.maxProviders ?? DEFAULT_MAX_PROVIDERS, 1);
  }

  get instanceCount(): number {
    return this.#instances.size;
  }

  get providerCount(): number {
    return this.#providers.size;
  }

  // -------------------------------------------------------------------------------------------
  // instances

  /** Registers an instance. ALREADY_EXISTS for a known id; INVALID_REQUEST for anything but metadata. */
  putInstance(input: InstanceMetadataInput): InstanceMetadata {
    const record = validateInstanceMetadata(input, this.#now);
    if (this.#instances.has(record.instanceId)) {
      throw new WasmatrixError(
        ErrorCode.ALREADY_EXISTS,
        `instance '${record.instanceId}' is already registered; remove it first or use another id`,
        { instanceId: record.instanceId },
      );
    }
    if (this.#instances.size >= this.#maxInstances) {
      throw new WasmatrixError(
        ErrorCode.RESOURCE_EXHAUSTED,
        `the registry holds its maximum of ${this.#maxInstances} instances`,
        { max: this.#maxInstances },
      );
    }
    this.#instances.set(record.instanceId, record);
    return record;
  }

  getInstance(id: InstanceId | string): InstanceMetadata | undefined {
    return this.#instances.get(id as InstanceId);
  }

  requireInstance(id: InstanceId | string): InstanceMetadata {
    const record = this.#instances.get(id as InstanceId);
    if (record === undefined) throw errors.notFound(ErrorCode.INSTANCE_NOT_FOUND, String(id));
    return record;
  }

  hasInstance(id: InstanceId | string): boolean {
    return this.#instances.has(id as InstanceId);
  }

  /** Moves the instance to `to` if the transition table allows it (FAILED_PRECONDITION if not). */
  updateStatus(id: InstanceId | string, to: InstanceStatus): InstanceMetadata {
    const current = this.requireInstance(id);
    const status = transition(current.status, parseInstanceStatus(to));
    return this.#replace(current, { status });
  }

  /** Records where the instance is placed; null when it has none (lost, not yet scheduled). */
  place(id: InstanceId | string, nodeId: NodeId | string | null): InstanceMetadata {
    const current = this.requireInstance(id);
    return this.#replace(current, { nodeId: nodeId === null ? null : NodeId.parse(nodeId) });
  }

  listInstances(filter: InstanceFilter = {}): InstanceMetadata[] {
    const statuses =
      filter.status === undefined
        ? undefined
        : new Set<string>(typeof filter.status === "string" ? [filter.status] : filter.status);
    const labels = filter.labels === undefined ? [] : Object.entries(filter.labels);
    const result: InstanceMetadata[] = [];
    for (const record of this.#instances.values()) {
      if (statuses !== undefined && !statuses.has(record.status)) continue;
      if (filter.nodeId !== undefined && record.nodeId !== filter.nodeId) continue;
      if (filter.moduleDigest !== undefined && record.moduleDigest !== filter.moduleDigest) continue;
      if (labels.some(([key, value]) => record.labels?.[key] !== value)) continue;
      result.push(record);
    }
    return result;
  }

  /** Forgets an instance and returns its last record; INSTANCE_NOT_FOUND if unknown. */
  removeInstance(id: InstanceId | string): InstanceMetadata {
    const record = this.requireInstance(id);
    this.#instances.delete(record.instanceId);
    return record;
  }

  /**
   * Adds an assignment. A remote provider must be registered and serve that capability;
   * an assignment for the same capability and binding is ALREADY_EXISTS.
   */
  assign(id: InstanceId | string, assignment: unknown): InstanceMetadata {
    const current = this.requireInstance(id);
    const checked = validateAssignment(assignment);
    if (checked.provider !== LOCAL_PROVIDER) {
      const provider = this.requireProvider(checked.provider);
      if (provider.capability !== checked.capability) {
        throw invalid(
          `provider '${provider.providerId}' serves ${provider.capability}, not ${checked.capability}`,
          { providerId: provider.providerId, capability: checked.capability },
        );
      }
    }
    if (findAssignment(current.assignments, checked.capability, checked.binding) !== undefined) {
      throw new WasmatrixError(
        ErrorCode.ALREADY_EXISTS,
        `instance '${current.instanceId}' already has a ${checked.capability} assignment with binding '${checked.binding}'; revoke it first or pick another binding`,
        { instanceId: current.instanceId, capability: checked.capability, binding: checked.binding },
      );
    }
    if (current.assignments.length >= MAX_ASSIGNMENTS_PER_INSTANCE) {
      throw invalid(`an instance holds at most ${MAX_ASSIGNMENTS_PER_INSTANCE} assignments`, {
        instanceId: current.instanceId,
      });
    }
    return this.#replace(current, { assignments: Object.freeze([...current.assignments, checked]) });
  }

  /** Removes the assignment for that capability and binding; CAPABILITY_NOT_ASSIGNED if there is none. */
  revoke(
    id: InstanceId | string,
    capability: CapabilityKind,
    binding: string = DEFAULT_BINDING,
  ): { instance: InstanceMetadata; revoked: CapabilityAssignment } {
    const current = this.requireInstance(id);
    const revoked = findAssignment(current.assignments, capability, binding);
    if (revoked === undefined) {
      throw new WasmatrixError(
        ErrorCode.CAPABILITY_NOT_ASSIGNED,
        `instance '${current.instanceId}' has no ${capability} assignment with binding '${binding}'`,
        { instanceId: current.instanceId, capability, binding },
      );
    }
    const assignments = Object.freeze(current.assignments.filter((a) => a !== revoked));
    return { instance: this.#replace(current, { assignments }), revoked };
  }

  #replace(
    current: InstanceMetadata,
    change: Partial<Pick<InstanceMetadata, "status" | "nodeId" | "assignments">>,
  ): InstanceMetadata {
    const next: InstanceMetadata = Object.freeze({ ...current, ...change, updatedAt: this.#now() });
    this.#instances.set(current.instanceId, next);
    return next;
  }

  // -------------------------------------------------------------------------------------------
  // providers

  /** Registers or replaces a provider (providers re-register on restart and upgrade). */
  putProvider(input: ProviderMetadata | Record<string, unknown>): ProviderMetadata {
    const record = validateProviderMetadata(input);
    if (!this.#providers.has(record.providerId) && this.#providers.size >= this.#maxProviders) {
      throw new WasmatrixError(
        ErrorCode.RESOURCE_EXHAUSTED,
        `the registry holds its maximum of ${this.#maxProviders} providers`,
        { max: this.#maxProviders },
      );
    }
    this.#providers.set(record.providerId, record);
    return record;
  }

  getProvider(id: ProviderId | string): ProviderMetadata | undefined {
    return this.#providers.get(id as ProviderId);
  }

  requireProvider(id: ProviderId | string): ProviderMetadata {
    const record = this.#providers.get(id as ProviderId);
    if (record === undefined) throw errors.notFound(ErrorCode.PROVIDER_NOT_FOUND, String(id));
    return record;
  }

  listProviders(filter: ProviderFilter = {}): ProviderMetadata[] {
    const result: ProviderMetadata[] = [];
    for (const record of this.#providers.values()) {
      if (filter.capability !== undefined && record.capability !== filter.capability) continue;
      if (filter.nodeId !== undefined && record.nodeId !== filter.nodeId) continue;
      result.push(record);
    }
    return result;
  }

  /** Forgets a provider and returns its last record; PROVIDER_NOT_FOUND if unknown. */
  removeProvider(id: ProviderId | string): ProviderMetadata {
    const record = this.requireProvider(id);
    this.#providers.delete(record.providerId);
    return record;
  }
}

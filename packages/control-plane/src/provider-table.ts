import {
  ErrorCode,
  isProvidedCapabilityKind,
  PROVIDED_CAPABILITY_KINDS,
  ProviderId,
  WasmatrixError,
} from "@wasmatrix/core";
import type { Logger } from "@wasmatrix/core/logger";
import type * as pb from "@wasmatrix/proto";

/**
 * Provider processes as they last announced themselves: over gRPC on every heartbeat, or once per
 * etcd record (`leased`), whose lease then says whether the provider lives.
 */
export class ProviderTable {
  /** provider id → the provider process as it last announced itself. */
  private readonly providers = new Map<string, pb.Provider>();
  private readonly leased = new Set<string>();

  constructor(private readonly options: { now: () => number; lossAfterMs: number; logger: Logger }) {}

  register(provider: pb.Provider, options: { leased?: boolean } = {}): void {
    ProviderId.parse(provider.providerId);
    if (provider.address === "" || !isProvidedCapabilityKind(provider.capability)) {
      throw new WasmatrixError(
        ErrorCode.INVALID_REQUEST,
        `a provider registration needs its address and a capability of ${PROVIDED_CAPABILITY_KINDS.join(", ")}`,
        { providerId: provider.providerId, capability: provider.capability },
      );
    }
    const known = this.providers.get(provider.providerId);
    this.providers.set(provider.providerId, {
      ...provider,
      status: "alive",
      lastHeartbeatMs: this.options.now(),
    });
    if (options.leased) this.leased.add(provider.providerId);
    else this.leased.delete(provider.providerId);
    if (known === undefined || known.status !== "alive") {
      this.options.logger.info(
        { providerId: provider.providerId, address: provider.address },
        "provider registered",
      );
    }
  }

  /** A provider whose etcd record went (its lease expired or was revoked). */
  remove(providerId: string): void {
    this.providers.delete(providerId);
    this.leased.delete(providerId);
  }

  /** Every provider process known, with its liveness. */
  list(): pb.Provider[] {
    const now = this.options.now();
    return [...this.providers.values()].map((p) => ({
      ...p,
      status:
        this.leased.has(p.providerId) || now - p.lastHeartbeatMs <= this.options.lossAfterMs
          ? "alive"
          : "lost",
    }));
  }

  /** The live providers, as node agents receive them with every report's answer. */
  live(): pb.Provider[] {
    return this.list().filter((p) => p.status === "alive");
  }
}

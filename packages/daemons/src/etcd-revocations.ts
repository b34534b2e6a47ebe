import type { RevocationStore } from "@wasmatrix/control-plane";
import type { EtcdMetadata, MetadataWatch } from "@wasmatrix/etcd";

/**
 * Revocations in etcd, for control planes that share an etcd: a revoke writes
 * `/wasmatrix/v1/revocations/<token id>`, and every control plane's watch adds it to the set each
 * verification consults from memory.
 */
export class EtcdRevocations implements RevocationStore {
  private readonly ids = new Set<string>();
  private watch: MetadataWatch | undefined;

  private constructor(
    private readonly metadata: EtcdMetadata,
    private readonly ownsMetadata: boolean,
  ) {}

  /** Resolves once the revocations etcd holds now are known; `owns`: close the client with the store. */
  static async open(metadata: EtcdMetadata, options: { owns?: boolean } = {}): Promise<EtcdRevocations> {
    const store = new EtcdRevocations(metadata, options.owns === true);
    store.watch = await metadata.watchRevocations({
      onPut: (id) => store.ids.add(id),
      // A revocation is for good: a deleted key (by hand) does not bring a token back.
      onDelete: () => undefined,
    });
    return store;
  }

  has(tokenId: string): boolean {
    return this.ids.has(tokenId);
  }

  async add(tokenId: string): Promise<void> {
    await this.metadata.putRevocation(tokenId);
    this.ids.add(tokenId);
  }

  close(): void {
    const watch = this.watch;
    void (async () => {
      await watch?.close();
      if (this.ownsMetadata) await this.metadata.close();
    })();
  }
}

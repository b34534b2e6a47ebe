import { createHash } from "node:crypto";
import { isEnded } from "@wasmatrix/core";
import type * as pb from "@wasmatrix/proto";

/**
 * Module bytes by digest, least recently used first out, bounded in bytes. It lets the control
 * plane start a lost node's instances elsewhere without asking the client again; after a restart
 * it is empty and fills with the next starts.
 *
 * Only modules that validated and started are put here, and a module that a live instance runs
 * (`isPinned`) is never evicted: otherwise a stream of other modules could push out the one an
 * `always` instance needs on the day its node dies. Pinned modules count against the bound, so
 * once they alone fill it, new unpinned modules are simply not kept.
 */
export class ModuleStore {
  private readonly entries = new Map<string, Buffer>();
  private bytes = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly isPinned: (digest: string) => boolean = () => false,
  ) {}

  /** Bytes held, pinned modules included. */
  get sizeBytes(): number {
    return this.bytes;
  }

  has(digest: string): boolean {
    return this.entries.has(digest);
  }

  put(module: Buffer): string {
    const digest = `sha256:${createHash("sha256").update(module).digest("hex")}`;
    const existing = this.entries.get(digest);
    if (existing !== undefined) {
      this.entries.delete(digest);
      this.entries.set(digest, existing);
      return digest;
    }
    // A copy: the request's buffer may be a view into a larger one that the store would pin.
    this.entries.set(digest, Buffer.from(module));
    this.bytes += module.byteLength;
    for (const [key, value] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      if (this.isPinned(key)) continue;
      this.entries.delete(key);
      this.bytes -= value.byteLength;
    }
    return digest;
  }

  get(digest: string): Buffer | undefined {
    const module = this.entries.get(digest);
    if (module !== undefined) {
      this.entries.delete(digest);
      this.entries.set(digest, module);
    }
    return module;
  }
}

/** Whether an instance runs `digest`, or will be started again from it after its node's loss. */
export function moduleInUse(instances: Iterable<pb.Instance>, digest: string): boolean {
  for (const instance of instances) {
    if (instance.moduleDigest !== digest) continue;
    if (!isEnded(instance.status)) return true;
    const policy = instance.restartPolicy?.policy?.$case;
    if (instance.status === "lost" && (policy === "always" || policy === "backoff")) return true;
  }
  return false;
}

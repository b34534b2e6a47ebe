import { createHash } from "node:crypto";

/**
 * Module bytes by digest, least recently used first out, bounded in bytes. A cache, not state:
 * it lets the control plane start a lost node's instances elsewhere without asking the client
 * again; after a restart it is empty and fills with the next starts.
 */
export class ModuleStore {
  private readonly entries = new Map<string, Buffer>();
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  put(module: Buffer): string {
    const digest = `sha256:${createHash("sha256").update(module).digest("hex")}`;
    const existing = this.entries.get(digest);
    if (existing !== undefined) {
      this.entries.delete(digest);
      this.entries.set(digest, existing);
      return digest;
    }
    if (module.byteLength > this.maxBytes) return digest;
    this.entries.set(digest, module);
    this.bytes += module.byteLength;
    for (const [key, value] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
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

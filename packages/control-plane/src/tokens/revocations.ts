import { type FSWatcher, watch } from "node:fs";
import { join } from "node:path";
import { readOptional, writeSecretFile } from "./state-files.js";

/**
 * Revoked token ids, consulted on every verification: `has` answers from memory, so a check
 * costs no I/O; the store keeps the memory current as other control planes revoke.
 */
export interface RevocationStore {
  has(tokenId: string): boolean;
  add(tokenId: string): Promise<void>;
  close(): void;
}

export const REVOCATIONS_FILE = "revoked-tokens.json";

/**
 * Revocations in the state dir (`revoked-tokens.json`, a JSON array of ids): control planes
 * sharing the directory see each other's revocations, as the directory is watched for the file.
 */
export class FileRevocations implements RevocationStore {
  private ids = new Set<string>();
  private watcher: FSWatcher | undefined;
  private loading: Promise<void> = Promise.resolve();

  private constructor(private readonly path: string) {}

  static async open(stateDir: string): Promise<FileRevocations> {
    const store = new FileRevocations(join(stateDir, REVOCATIONS_FILE));
    await store.reload();
    store.watcher = watch(stateDir, { persistent: false }, (_event, name) => {
      if (name === REVOCATIONS_FILE) store.loading = store.loading.then(() => store.reload());
    });
    // A directory that disappears must not end the process; the last list stays in force.
    store.watcher.on("error", () => store.watcher?.close());
    return store;
  }

  has(tokenId: string): boolean {
    return this.ids.has(tokenId);
  }

  async add(tokenId: string): Promise<void> {
    await this.reload();
    this.ids.add(tokenId);
    await writeSecretFile(this.path, `${JSON.stringify([...this.ids].sort(), null, 2)}\n`);
  }

  close(): void {
    this.watcher?.close();
  }

  /** Revocations only ever grow: ids read from the file are added, none is forgotten. */
  private async reload(): Promise<void> {
    try {
      const text = await readOptional(this.path);
      if (text === undefined) return;
      const parsed: unknown = JSON.parse(text);
      if (!Array.isArray(parsed)) return;
      for (const id of parsed) if (typeof id === "string") this.ids.add(id);
    } catch {
      // A half-written or hand-broken file keeps the ids already known; the next change reloads.
    }
  }
}

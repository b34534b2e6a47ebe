import { lstatSync, readdirSync } from "node:fs";

/** Limits on what one instance's guest may hold in its preopened directories, all together. */
export interface FilesystemQuota {
  /** Bytes of regular-file content. Writes past it are short, then fail with DQUOT. */
  maxBytes?: number;
  /** Directory entries (files, directories, symlinks, hard links). Creating more fails with DQUOT. */
  maxInodes?: number;
  /** Descriptors open at once, stdio and preopens included. Opening more fails with MFILE. */
  maxOpenFiles?: number;
}

export const DEFAULT_MAX_OPEN_FILES = 1024;

/**
 * Bytes and entries in use under an instance's writable preopens, counted once at start and then
 * kept up to date by the calls that change them. Only this instance writes there, so the count
 * stays right; a host process writing beside it is not seen until the next start.
 */
export class QuotaUsage {
  bytes = 0;
  inodes = 0;
  readonly maxBytes: number;
  readonly maxInodes: number;

  constructor(quota: FilesystemQuota, roots: readonly string[]) {
    this.maxBytes = quota.maxBytes ?? Number.POSITIVE_INFINITY;
    this.maxInodes = quota.maxInodes ?? Number.POSITIVE_INFINITY;
    if (quota.maxBytes !== undefined || quota.maxInodes !== undefined) {
      for (const root of roots) this.count(root);
    }
  }

  /** How many of `wanted` more bytes fit. */
  bytesLeft(): number {
    return Math.max(0, this.maxBytes - this.bytes);
  }

  canCreate(): boolean {
    return this.inodes < this.maxInodes;
  }

  private count(dir: string): void {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      this.inodes++;
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory()) this.count(path);
      else if (entry.isFile()) this.bytes += Number(lstatSync(path).size);
    }
  }
}

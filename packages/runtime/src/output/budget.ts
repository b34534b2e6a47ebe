import { ErrorCode, WasmatrixError } from "@wasmatrix/core";

/**
 * Bytes of guest output kept on a node, across all its instances. Each instance's own cap
 * (`maxOutputBytes`) bounds one instance; this bounds their sum, so ten thousand instances that
 * each fill their caps cannot take the node's memory with them. 256 MiB is 128 instances with
 * full stdout and stderr rings; past it, buffers stop growing and the excess is dropped and counted.
 */
export const DEFAULT_NODE_OUTPUT_BYTES = 256 * 1024 * 1024;

/** A node-wide allowance that output buffers draw from when they grow and return when freed. */
export class OutputBudget {
  private used = 0;

  constructor(readonly maxBytes: number = DEFAULT_NODE_OUTPUT_BYTES) {
    if (maxBytes !== Number.POSITIVE_INFINITY && !(Number.isSafeInteger(maxBytes) && maxBytes >= 0)) {
      throw new WasmatrixError(
        ErrorCode.INVALID_REQUEST,
        `the node's output budget must be a non-negative integer number of bytes or Infinity, not ${maxBytes}`,
        { maxBytes },
      );
    }
  }

  get usedBytes(): number {
    return this.used;
  }

  /** Takes all of `bytes` from the allowance, or nothing (and answers false) if that would exceed it. */
  tryReserve(bytes: number): boolean {
    if (this.used + bytes > this.maxBytes) return false;
    this.used += bytes;
    return true;
  }

  release(bytes: number): void {
    this.used = Math.max(0, this.used - bytes);
  }
}

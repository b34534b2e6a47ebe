import { ErrorCode, type PermissionRequest, WasmatrixError } from "@wasmatrix/core";
import { base64Field, encoder, jsonBytes, parseObject, stringField } from "./json.js";
import type { CapabilityProvider, ProviderCall } from "./provider.js";

/**
 * Operations of `wasmatrix:keyvalue` and the permission each needs. Payloads are JSON objects;
 * see docs/abi.md for their fields.
 */
export const KEYVALUE_OPERATIONS = {
  get: "read",
  exists: "read",
  set: "write",
  increment: "write",
  delete: "delete",
  list: "list",
} as const;

export type KeyvalueOperation = keyof typeof KEYVALUE_OPERATIONS;

export interface KeyvalueLimits {
  maxKeyBytes: number;
  maxValueBytes: number;
  /** Keys one scope may hold. */
  maxKeysPerScope: number;
  /** Bytes of keys and values the whole store may hold. */
  maxTotalBytes: number;
  /** Keys one `list` answers with at most. */
  maxListKeys: number;
}

export const DEFAULT_KEYVALUE_LIMITS: Readonly<KeyvalueLimits> = Object.freeze({
  maxKeyBytes: 512,
  maxValueBytes: 1024 * 1024,
  maxKeysPerScope: 100_000,
  maxTotalBytes: 256 * 1024 * 1024,
  maxListKeys: 10_000,
});

const EMPTY = new Uint8Array(0);
const TRUE = encoder.encode("true");
const FALSE = encoder.encode("false");

function isOperation(operation: string): operation is KeyvalueOperation {
  return Object.hasOwn(KEYVALUE_OPERATIONS, operation);
}

/** The permission a keyvalue operation needs: one kv action, whatever the key. */
export function keyvalueRequired(operation: string): PermissionRequest {
  if (!isOperation(operation)) {
    throw new WasmatrixError(
      ErrorCode.INVALID_REQUEST,
      `keyvalue has no operation '${operation}'; use one of ${Object.keys(KEYVALUE_OPERATIONS).join(", ")}`,
      { operation },
    );
  }
  return { kind: "kv", action: KEYVALUE_OPERATIONS[operation] };
}

/**
 * In-memory keyvalue for embedded mode. Each scope is its own map, so isolation does not depend
 * on key prefixes a guest could forge. Data lives as long as the provider: it outlives instances
 * and their restarts, not the process.
 */
export class MemoryKeyvalueProvider implements CapabilityProvider {
  readonly capability = "keyvalue" as const;
  private readonly scopes = new Map<string, Map<string, Uint8Array>>();
  private readonly limits: KeyvalueLimits;
  private totalBytes = 0;

  constructor(limits: Partial<KeyvalueLimits> = {}) {
    this.limits = { ...DEFAULT_KEYVALUE_LIMITS, ...limits };
  }

  required(operation: string): PermissionRequest {
    return keyvalueRequired(operation);
  }

  async handle(call: ProviderCall): Promise<Uint8Array> {
    return this.handleSync(call.scope, call.operation, call.payload);
  }

  /** The same operations without a promise, for callers on a hot path. */
  handleSync(scope: string, operation: string, payload: Uint8Array): Uint8Array {
    const what = `keyvalue ${operation}`;
    const request = parseObject(payload, what);
    const store = this.scopes.get(scope);
    switch (operation) {
      case "get": {
        // The key is checked even when the scope is empty: `store?.get(…)` would skip it.
        const key = this.key(request, what);
        return store?.get(key) ?? EMPTY;
      }
      case "exists": {
        const key = this.key(request, what);
        return store?.has(key) ? TRUE : FALSE;
      }
      case "set":
        this.put(scope, this.key(request, what), this.value(request, what));
        return EMPTY;
      case "increment": {
        const key = this.key(request, what);
        const by = request["by"] ?? 1;
        if (typeof by !== "number" || !Number.isSafeInteger(by)) {
          throw new WasmatrixError(ErrorCode.INVALID_REQUEST, `${what}: 'by' must be an integer`);
        }
        const current = store?.get(key);
        const text = current === undefined ? "0" : new TextDecoder().decode(current);
        if (!/^-?\d+$/.test(text)) {
          throw new WasmatrixError(
            ErrorCode.INVALID_REQUEST,
            `${what}: key '${key}' does not hold an integer`,
            {
              key,
            },
          );
        }
        const next = encoder.encode(String(BigInt(text) + BigInt(by)));
        this.put(scope, key, next);
        return next;
      }
      case "delete": {
        const key = this.key(request, what);
        const old = store?.get(key);
        if (old === undefined || store === undefined) return FALSE;
        store.delete(key);
        this.totalBytes -= key.length + old.byteLength;
        if (store.size === 0) this.scopes.delete(scope);
        return TRUE;
      }
      case "list": {
        const prefix = typeof request["prefix"] === "string" ? request["prefix"] : "";
        const keys: string[] = [];
        for (const key of store?.keys() ?? []) if (key.startsWith(prefix)) keys.push(key);
        keys.sort();
        return jsonBytes(keys.slice(0, this.limits.maxListKeys));
      }
      default:
        this.required(operation);
        return EMPTY;
    }
  }

  /** Keys in a scope (for tests and inspection). */
  keys(scope: string): string[] {
    return [...(this.scopes.get(scope)?.keys() ?? [])].sort();
  }

  get stats(): { scopes: number; keys: number; bytes: number } {
    let keys = 0;
    for (const store of this.scopes.values()) keys += store.size;
    return { scopes: this.scopes.size, keys, bytes: this.totalBytes };
  }

  private key(request: Record<string, unknown>, what: string): string {
    const key = stringField(request, "key", what);
    if (key.length === 0 || encoder.encode(key).byteLength > this.limits.maxKeyBytes) {
      throw new WasmatrixError(
        ErrorCode.INVALID_REQUEST,
        `${what}: keys must be 1 to ${this.limits.maxKeyBytes} bytes long`,
        { maxKeyBytes: this.limits.maxKeyBytes },
      );
    }
    return key;
  }

  private value(request: Record<string, unknown>, what: string): Uint8Array {
    return keyvalueValue(request, what, this.limits.maxValueBytes);
  }

  private put(scope: string, key: string, value: Uint8Array): void {
    let store = this.scopes.get(scope);
    const old = store?.get(key);
    const growth = value.byteLength - (old?.byteLength ?? -key.length);
    if (old === undefined && (store?.size ?? 0) >= this.limits.maxKeysPerScope) {
      throw new WasmatrixError(
        ErrorCode.RESOURCE_EXHAUSTED,
        `keyvalue: this scope holds its maximum of ${this.limits.maxKeysPerScope} keys; delete some first`,
        { maxKeysPerScope: this.limits.maxKeysPerScope },
      );
    }
    if (this.totalBytes + growth > this.limits.maxTotalBytes) {
      throw new WasmatrixError(
        ErrorCode.RESOURCE_EXHAUSTED,
        `keyvalue: the store is full (${this.limits.maxTotalBytes} bytes)`,
        { maxTotalBytes: this.limits.maxTotalBytes },
      );
    }
    if (store === undefined) {
      store = new Map();
      this.scopes.set(scope, store);
    }
    store.set(key, value);
    this.totalBytes += growth;
  }
}

/** The value of a `set`: `value` as text or `valueBase64` as bytes, within the cap. */
export function keyvalueValue(
  request: Record<string, unknown>,
  what: string,
  maxValueBytes: number,
): Uint8Array {
  const bytes = base64Field(request, "valueBase64", what);
  const value =
    bytes === undefined ? encoder.encode(stringField(request, "value", what)) : new Uint8Array(bytes);
  if (value.byteLength > maxValueBytes) {
    throw new WasmatrixError(
      ErrorCode.RESOURCE_EXHAUSTED,
      `${what}: value of ${value.byteLength} bytes exceeds the cap of ${maxValueBytes}`,
      { sizeBytes: value.byteLength, maxBytes: maxValueBytes },
    );
  }
  return value;
}

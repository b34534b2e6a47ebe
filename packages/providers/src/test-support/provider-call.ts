import type { ProviderCall } from "../provider.js";

const encoder = new TextEncoder();

/** A provider call of instance `i` in `scope`, as the node's router would make it, with a JSON payload. */
export function providerCall(
  scope: string,
  operation: string,
  payload: unknown,
  remainingMs = 10_000,
): ProviderCall {
  return {
    instanceId: "i",
    binding: "default",
    operation,
    payload: encoder.encode(JSON.stringify(payload)),
    scope,
    remainingMs,
  };
}

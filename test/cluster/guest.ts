import { invokeRequest, startRequest, type WasmatrixClient } from "@wasmatrix/client";
import type * as pb from "@wasmatrix/proto";
import { guests } from "../../packages/node-agent/src/test-support/guests.js";

/**
 * The reactor the cluster tests run: the node agent's proxy guest, whose `count` keeps a counter
 * in linear memory. A count that keeps climbing proves the instance was never restarted; one that
 * starts again at 1 proves it is a fresh instance.
 */
let bytes: Buffer | undefined;
export async function reactor(): Promise<Buffer> {
  bytes ??= Buffer.from(await guests.proxy());
  return bytes;
}

/** Invokes `count` and returns the counter it answers with (u32, little endian). */
export async function count(client: WasmatrixClient, instanceId: string): Promise<number> {
  const result = await client.invoke(invokeRequest(instanceId, "count"));
  if (result.outcome?.status !== "ok" || result.response.byteLength !== 4) {
    throw new Error(`count on ${instanceId} failed: ${JSON.stringify(result.outcome)} ${result.guestError}`);
  }
  return result.response.readUInt32LE(0);
}

/** Starts the reactor with the module's bytes. */
export async function startReactor(
  client: WasmatrixClient,
  fields: pb.DeepPartial<pb.StartInstanceRequest>,
): Promise<pb.Instance> {
  return client.startInstance(startRequest({ module: await reactor(), ...fields }));
}

export const always = { policy: { $case: "always" as const, value: {} } };
export const never = { policy: { $case: "never" as const, value: {} } };

import {
  type CapabilityKind,
  ErrorCode,
  formatPermission,
  type Metrics,
  type PermissionRequest,
  WasmatrixError,
} from "@wasmatrix/core";
import type * as pb from "@wasmatrix/proto";
import { connectProvider, type ProviderConnection, type TlsMaterial } from "@wasmatrix/proto";
import { type CapabilityProvider, type ProviderCall, requiredPermission } from "@wasmatrix/providers";

/** Longest a call to a provider process may take when the guest's deadline allows more. */
const MAX_CALL_MS = 5_000;

/**
 * A provider process, as the node's router sees it: same interface as a local provider; every
 * call goes over gRPC with the guest's remaining time as its deadline, and anything that keeps
 * it from being answered is PROVIDER_UNAVAILABLE, never a hang.
 */
export class RemoteProvider implements CapabilityProvider {
  readonly capability: CapabilityKind;
  private readonly connection: ProviderConnection;

  constructor(
    readonly info: pb.Provider,
    private readonly nodeId: string,
    { tls, metrics }: { tls?: TlsMaterial | undefined; metrics?: Metrics | undefined } = {},
  ) {
    this.capability = info.capability as CapabilityKind;
    // Over TLS the provider reads this node's id from its certificate, and must itself hold the
    // certificate of the provider the control plane listed.
    this.connection = connectProvider(info.address, {
      ...(tls === undefined ? {} : { tls, peer: { kind: "provider" as const, id: info.providerId } }),
      ...(metrics === undefined ? {} : { metrics }),
    });
  }

  required(operation: string, payload: Uint8Array): PermissionRequest {
    return requiredPermission(this.capability, operation, payload);
  }

  async handle(call: ProviderCall): Promise<Uint8Array> {
    const timeoutMs = Math.max(1, Math.min(call.remainingMs, MAX_CALL_MS));
    try {
      const answer = await this.connection.call(
        {
          nodeId: this.nodeId,
          instanceId: call.instanceId,
          binding: call.binding,
          operation: call.operation,
          payload: Buffer.from(call.payload),
          scope: call.scope,
          tenant: call.tenant ?? "",
          permissions: (call.permissions ?? []).map(formatPermission),
          remainingMs: Math.round(timeoutMs),
        },
        timeoutMs,
      );
      return answer.payload;
    } catch (error) {
      const wrapped = WasmatrixError.from(error);
      // The provider's own refusals carry their codes; failures to reach it (rebuilt by the
      // client as NODE_UNAVAILABLE or TIMEOUT, with no wasmatrix code from the far side) are its absence.
      if (wrapped.details["grpcStatus"] !== undefined) {
        throw new WasmatrixError(
          ErrorCode.PROVIDER_UNAVAILABLE,
          `provider '${this.info.providerId}' at ${this.info.address} did not answer: ${wrapped.message}`,
          { providerId: this.info.providerId, address: this.info.address },
        );
      }
      throw wrapped;
    }
  }

  async close(): Promise<void> {
    this.connection.close();
  }
}

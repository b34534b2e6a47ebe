import { type TrustedKeys, verifyModuleSignature } from "@wasmatrix/core";
import type * as pb from "@wasmatrix/proto";
import { digestOf } from "@wasmatrix/runtime";

/** Signatures remembered, by module digest; the oldest are forgotten first. */
const MAX_REMEMBERED = 10_000;

/**
 * Module signatures at the control plane: with trusted keys, a start whose module has no valid
 * signature is refused before anything compiles or keeps it. Every signature that came with a
 * start that succeeded is remembered by digest (in memory, bounded), so that a start by digest
 * (`start --id`, failover to another node) carries it again: a node agent with its own trusted
 * keys checks it as well.
 */
export class ModuleSignatures {
  private readonly known = new Map<string, string>();

  constructor(private readonly trusted?: TrustedKeys) {}

  /**
   * The request with its signature (sent, or remembered for its digest) and, with trusted keys,
   * the id of the key that signed it; refused when the signature does not verify.
   */
  admit(request: pb.StartInstanceRequest): { request: pb.StartInstanceRequest; keyId?: string } {
    const sendsBytes = request.module.byteLength > 0;
    const digest = sendsBytes ? String(digestOf(request.module)) : request.moduleDigest;
    // Bytes must come with their signature; only a start by digest (`start --id`) is given the
    // one a previous start of that module brought.
    const remembered = sendsBytes ? "" : (this.known.get(digest) ?? "");
    const signature = request.moduleSignature !== "" ? request.moduleSignature : remembered;
    const signed =
      signature === request.moduleSignature ? request : { ...request, moduleSignature: signature };
    if (this.trusted === undefined) return { request: signed };
    return { request: signed, keyId: verifyModuleSignature(digest, signature, this.trusted).keyId };
  }

  /** Remembers the signature of a module that started. */
  remember(request: pb.StartInstanceRequest): void {
    if (request.moduleSignature === "") return;
    const digest = request.module.byteLength > 0 ? String(digestOf(request.module)) : request.moduleDigest;
    this.known.delete(digest);
    this.known.set(digest, request.moduleSignature);
    if (this.known.size > MAX_REMEMBERED) this.known.delete(this.known.keys().next().value as string);
  }

  /** Adds the remembered signature to a start by digest that has none (failover). */
  attach(request: pb.StartInstanceRequest): pb.StartInstanceRequest {
    if (request.moduleSignature !== "" || request.moduleDigest === "") return request;
    const signature = this.known.get(request.moduleDigest);
    return signature === undefined ? request : { ...request, moduleSignature: signature };
  }
}

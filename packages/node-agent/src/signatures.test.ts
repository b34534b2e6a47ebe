import { createHash, generateKeyPairSync } from "node:crypto";
import { ErrorCode, formatSignature, signDigest, trustedKeysFrom } from "@wasmatrix/core";
import { rejection } from "@wasmatrix/core/test-support/expect-code";
import { afterAll, describe, expect, it } from "vitest";
import { NodeAgent } from "./agent.js";
import { guests } from "./test-support/guests.js";

const { privateKey, publicKey } = generateKeyPairSync("ed25519");
const trustedKeys = trustedKeysFrom([
  { name: "release.pub", pem: publicKey.export({ format: "pem", type: "spki" }).toString() },
]);
const signatureOf = (bytes: Uint8Array) =>
  formatSignature(signDigest(`sha256:${createHash("sha256").update(bytes).digest("hex")}`, privateKey));

describe("a node agent with trusted keys", () => {
  const agent = new NodeAgent({ nodeId: "node-signed", runtime: { workers: 1 }, trustedKeys });
  afterAll(() => agent.close(200));

  it("refuses an unsigned module before compiling it: bytes that are no module get the signature's refusal", async () => {
    const error = await rejection(
      agent.start({ instanceId: "junk", module: Buffer.from("not wasm at all") }),
    );
    expect(error.code).toBe(ErrorCode.MODULE_SIGNATURE_INVALID);
    expect(error.details["reason"]).toBe("unsigned");
    expect(agent.runtime.cached(error.details["digest"] as never)).toBeUndefined();
  });

  it("refuses a start by digest without a signature, even of a module it has compiled", async () => {
    const module = await guests.proxy();
    const started = await agent.start({ instanceId: "first", module, signature: signatureOf(module) });
    const error = await rejection(agent.start({ instanceId: "second", moduleDigest: started.moduleDigest }));
    expect(error.details["reason"]).toBe("unsigned");
  });

  it("runs a module whose signature verifies", async () => {
    const module = await guests.proxy();
    const view = await agent.start({ instanceId: "signed", module, signature: signatureOf(module) });
    expect(view.status).toBe("running");
  });
});

import { createHash, generateKeyPairSync } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ErrorCode } from "./errors.js";
import {
  formatSignature,
  keyIdOf,
  parsePrivateKey,
  parsePublicKey,
  signDigest,
  trustedKeysFrom,
  verifyModuleSignature,
} from "./module-signature.js";
import { expectCode } from "./test-support/expect-code.js";

function keyPair() {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return {
    privatePem: privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
    publicPem: publicKey.export({ format: "pem", type: "spki" }).toString(),
  };
}

const digestOf = (bytes: Uint8Array) => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;

const signer = keyPair();
const stranger = keyPair();
const trusted = trustedKeysFrom([{ name: "signer.pub", pem: signer.publicPem }]);
const module = Buffer.from("\0asm\x01\0\0\0 a module");
const signed = formatSignature(signDigest(digestOf(module), parsePrivateKey(signer.privatePem)));

describe("module signatures", () => {
  it("verify for the module they were made for, by a trusted key", () => {
    const signature = verifyModuleSignature(digestOf(module), signed, trusted);
    expect(signature.keyId).toBe(keyIdOf(parsePublicKey(signer.publicPem)));
  });

  it("name the same key id from the private and the public half", () => {
    expect(keyIdOf(parsePrivateKey(signer.privatePem))).toBe(keyIdOf(parsePublicKey(signer.publicPem)));
    expect(keyIdOf(parsePublicKey(signer.publicPem))).not.toBe(keyIdOf(parsePublicKey(stranger.publicPem)));
  });

  it("refuse a module with any one byte changed after signing", () => {
    fc.assert(
      fc.property(fc.nat(module.length - 1), fc.integer({ min: 1, max: 255 }), (at, flip) => {
        const changed = Buffer.from(module);
        changed[at] = changed[at]! ^ flip;
        const error = expectCode(
          () => verifyModuleSignature(digestOf(changed), signed, trusted),
          ErrorCode.MODULE_SIGNATURE_INVALID,
        );
        expect(error.details["reason"]).toBe("digest_mismatch");
      }),
    );
  });

  it("refuse a missing signature as unsigned", () => {
    const error = expectCode(
      () => verifyModuleSignature(digestOf(module), "", trusted),
      ErrorCode.MODULE_SIGNATURE_INVALID,
    );
    expect(error.details["reason"]).toBe("unsigned");
  });

  it("refuse a signature by a key not in the trusted set", () => {
    const other = formatSignature(signDigest(digestOf(module), parsePrivateKey(stranger.privatePem)));
    const error = expectCode(
      () => verifyModuleSignature(digestOf(module), other, trusted),
      ErrorCode.MODULE_SIGNATURE_INVALID,
    );
    expect(error.details["reason"]).toBe("untrusted_key");
  });

  it("refuse a signature whose bytes were changed, or that claims a trusted key it was not made with", () => {
    const real = JSON.parse(signed) as { signature: string; keyId: string };
    const bytes = Buffer.from(real.signature, "base64");
    bytes[10] = bytes[10]! ^ 1;
    const tampered = JSON.stringify({ ...real, signature: bytes.toString("base64") });
    const forged = formatSignature({
      ...signDigest(digestOf(module), parsePrivateKey(stranger.privatePem)),
      keyId: real.keyId,
    });
    for (const text of [tampered, forged]) {
      const error = expectCode(
        () => verifyModuleSignature(digestOf(module), text, trusted),
        ErrorCode.MODULE_SIGNATURE_INVALID,
      );
      expect(error.details["reason"]).toBe("bad_signature");
    }
  });

  it("refuse any text that is not a signature file as malformed, never with another error", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ minLength: 1 }), fc.json()), (text) => {
        fc.pre(text.trim() !== "");
        const error = expectCode(
          () => verifyModuleSignature(digestOf(module), text, trusted),
          ErrorCode.MODULE_SIGNATURE_INVALID,
        );
        expect(error.details["reason"]).toBe("malformed");
      }),
    );
  });

  it("will not trust a file that is not an ed25519 public key", () => {
    const rsa = generateKeyPairSync("rsa", { modulusLength: 1024 })
      .publicKey.export({ format: "pem", type: "spki" })
      .toString();
    for (const pem of ["not a key", rsa, signer.privatePem]) {
      expectCode(() => trustedKeysFrom([{ name: "x.pub", pem }]), ErrorCode.INVALID_REQUEST);
    }
  });
});

import { createHash, createPrivateKey, createPublicKey, type KeyObject, sign, verify } from "node:crypto";
import { ErrorCode, WasmatrixError } from "./errors.js";

/**
 * Detached ed25519 signatures over a module's sha256 digest (docs/security.md, "Signed modules").
 * A `.sig` file is one line of JSON:
 *
 *   {"version":1,"algorithm":"ed25519","keyId":"<32 hex>","digest":"sha256:<64 hex>","signature":"<base64>"}
 *
 * The signed bytes are `SIGNED_PREFIX + digest` (UTF-8), not the bare digest: a key that signs
 * modules can then never be tricked into producing a signature that means something else.
 * Pure: keys and files come in as text; reading them is the caller's business.
 */

export const SIGNATURE_VERSION = 1;
export const SIGNED_PREFIX = "wasmatrix-module-v1\n";

export interface ModuleSignature {
  version: typeof SIGNATURE_VERSION;
  algorithm: "ed25519";
  /** The signing key's id: see `keyIdOf`. */
  keyId: string;
  /** `sha256:<hex>` of the module's bytes. */
  digest: string;
  /** The raw 64-byte ed25519 signature, base64. */
  signature: string;
}

/** Public keys a server accepts signatures from, by key id. */
export type TrustedKeys = ReadonlyMap<string, KeyObject>;

/** Why a module was refused: `details.reason` of MODULE_SIGNATURE_INVALID. */
export type SignatureRefusal =
  | "unsigned"
  | "malformed"
  | "digest_mismatch"
  | "untrusted_key"
  | "bad_signature";

const DIGEST_PATTERN = /^sha256:[0-9a-f]{64}$/;
const KEY_ID_PATTERN = /^[0-9a-f]{32}$/;

/** A key's id: the first 128 bits of the sha256 of its raw 32-byte public key, in hex. */
export function keyIdOf(key: KeyObject): string {
  const publicKey = key.type === "private" ? createPublicKey(key) : key;
  const raw = Buffer.from(publicKey.export({ format: "jwk" }).x ?? "", "base64url");
  return createHash("sha256").update(raw).digest("hex").slice(0, 32);
}

/** A PEM (PKCS#8) private key, checked to be ed25519. */
export function parsePrivateKey(pem: string): KeyObject {
  return ed25519(() => createPrivateKey(pem), "private");
}

/** A PEM (SPKI) public key, checked to be ed25519. */
export function parsePublicKey(pem: string): KeyObject {
  // createPublicKey would derive one from a private key: a private key is never a trusted one.
  if (pem.includes("PRIVATE KEY")) throw new TypeError("this is a private key; trust its .pub file instead");
  return ed25519(() => createPublicKey(pem), "public");
}

/** The trusted-keys table from the `.pub` files of a directory (their names only appear in errors). */
export function trustedKeysFrom(files: readonly { name: string; pem: string }[]): TrustedKeys {
  const keys = new Map<string, KeyObject>();
  for (const { name, pem } of files) {
    let key: KeyObject;
    try {
      key = parsePublicKey(pem);
    } catch (error) {
      throw new WasmatrixError(
        ErrorCode.INVALID_REQUEST,
        `${name} is not an ed25519 public key (${(error as Error).message}); write one with \`wasmatrix keys generate\``,
        { file: name },
      );
    }
    keys.set(keyIdOf(key), key);
  }
  return keys;
}

/** Signs a module's digest with a private key; the result is what `MODULE.sig` holds. */
export function signDigest(digest: string, privateKey: KeyObject): ModuleSignature {
  if (!DIGEST_PATTERN.test(digest)) throw new TypeError(`not a sha256 digest: ${digest}`);
  return {
    version: SIGNATURE_VERSION,
    algorithm: "ed25519",
    keyId: keyIdOf(privateKey),
    digest,
    signature: sign(null, signedBytes(digest), privateKey).toString("base64"),
  };
}

/** A signature as the one line of a `.sig` file (newline included). */
export function formatSignature(signature: ModuleSignature): string {
  return `${JSON.stringify(signature)}\n`;
}

/** Reads a `.sig` file's text; anything else is MODULE_SIGNATURE_INVALID (`malformed`). */
export function parseSignature(text: string): ModuleSignature {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw refusal("malformed", "the signature is not JSON; sign the module again with `wasmatrix sign`");
  }
  const v = value as Partial<ModuleSignature> | null;
  if (
    typeof v !== "object" ||
    v === null ||
    v.version !== SIGNATURE_VERSION ||
    v.algorithm !== "ed25519" ||
    typeof v.keyId !== "string" ||
    !KEY_ID_PATTERN.test(v.keyId) ||
    typeof v.digest !== "string" ||
    !DIGEST_PATTERN.test(v.digest) ||
    typeof v.signature !== "string"
  ) {
    throw refusal(
      "malformed",
      "the signature file lacks version 1, ed25519, keyId, digest or signature; sign the module again with `wasmatrix sign`",
    );
  }
  return {
    version: v.version,
    algorithm: v.algorithm,
    keyId: v.keyId,
    digest: v.digest,
    signature: v.signature,
  };
}

/**
 * The one check every server makes before it compiles a module: `signatureText` (a `.sig` file's
 * text; empty when none came) must name `digest`, a key in `trusted`, and verify with it.
 * Returns the parsed signature; throws MODULE_SIGNATURE_INVALID with `details.reason`.
 */
export function verifyModuleSignature(
  digest: string,
  signatureText: string,
  trusted: TrustedKeys,
): ModuleSignature {
  if (signatureText.trim() === "") {
    throw refusal(
      "unsigned",
      "only signed modules are accepted here (--trusted-keys) and this one came without a signature; sign it with `wasmatrix sign MODULE --key KEY`, which writes the MODULE.sig that is sent along",
      { digest },
    );
  }
  const signature = parseSignature(signatureText);
  if (signature.digest !== digest) {
    throw refusal(
      "digest_mismatch",
      `the signature is for module ${signature.digest}, not for this one (${digest}): the module changed after it was signed, or the wrong .sig was sent`,
      { digest, signedDigest: signature.digest, keyId: signature.keyId },
    );
  }
  const key = trusted.get(signature.keyId);
  if (key === undefined) {
    throw refusal(
      "untrusted_key",
      `the module is signed by key ${signature.keyId}, which this server does not trust; add its .pub file to the --trusted-keys directory`,
      { digest, keyId: signature.keyId },
    );
  }
  const raw = Buffer.from(signature.signature, "base64");
  if (raw.byteLength !== 64 || !verify(null, signedBytes(digest), key, raw)) {
    throw refusal(
      "bad_signature",
      `the signature by key ${signature.keyId} does not verify for module ${digest}; sign the module again`,
      { digest, keyId: signature.keyId },
    );
  }
  return signature;
}

function signedBytes(digest: string): Buffer {
  return Buffer.from(SIGNED_PREFIX + digest, "utf8");
}

function refusal(
  reason: SignatureRefusal,
  message: string,
  details: Record<string, unknown> = {},
): WasmatrixError {
  return new WasmatrixError(ErrorCode.MODULE_SIGNATURE_INVALID, message, { reason, ...details });
}

function ed25519(parse: () => KeyObject, type: "public" | "private"): KeyObject {
  const key = parse();
  if (key.asymmetricKeyType !== "ed25519") {
    throw new TypeError(`an ed25519 ${type} key is needed, not ${key.asymmetricKeyType ?? "a secret key"}`);
  }
  return key;
}

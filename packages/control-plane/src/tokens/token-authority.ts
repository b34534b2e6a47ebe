import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
} from "node:crypto";
import { join } from "node:path";
import {
  ErrorCode,
  ROLES,
  type Role,
  type TokenClaims,
  validateTenant,
  WasmatrixError,
} from "@wasmatrix/core";
import { errors as joseErrors, jwtVerify, SignJWT } from "jose";
import { FileRevocations, type RevocationStore } from "./revocations.js";
import { readOptional, writeSecretFile } from "./state-files.js";

export const SIGNING_KEY_FILE = "token-signing.key";
export const ADMIN_TOKEN_FILE = "admin.token";
export const TOKEN_REGISTRY_FILE = "tokens.json";

const ISSUER = "wasmatrix";
/** Distinct verified tokens remembered; a token beyond them is verified again, not refused. */
const VERIFIED_TOKENS_KEPT = 1024;
const ALGORITHM = "EdDSA";

/** What the registry keeps of a token: never the token itself. */
export interface TokenRecord extends TokenClaims {
  readonly createdAt: number;
}

export interface TokenRequest {
  readonly role: Role;
  readonly tenant?: string;
  /** Omitted: the token never expires. */
  readonly expiresInMs?: number;
}

export interface IssuedToken {
  readonly token: string;
  readonly record: TokenRecord;
}

export interface TokenAuthorityOptions {
  /** Holds the signing key, the registry and (without etcd) the revocations. */
  stateDir: string;
  /** @default the revocations file in stateDir */
  revocations?: RevocationStore;
  /** @default Date.now */
  now?: () => number;
}

/**
 * Issues and verifies the API's tokens: JWTs signed with an ed25519 key (EdDSA) kept in the
 * state dir. Verification needs only the key and the revocation list, so any number of control
 * planes sharing the key verify statelessly. A token carries its id (jti), role, tenant and expiry.
 */
export class TokenAuthority {
  private constructor(
    private readonly privateKey: KeyObject,
    private readonly publicKey: KeyObject,
    private readonly stateDir: string,
    private readonly revocations: RevocationStore,
    private readonly now: () => number,
    /** Set when this start created the key: where the first admin token was written. */
    readonly adminTokenPath: string | undefined,
  ) {}

  static async open(options: TokenAuthorityOptions): Promise<TokenAuthority> {
    const now = options.now ?? Date.now;
    const keyPath = join(options.stateDir, SIGNING_KEY_FILE);
    const pem = await readOptional(keyPath);
    let privateKey: KeyObject;
    let created = false;
    if (pem === undefined) {
      privateKey = generateKeyPairSync("ed25519").privateKey;
      await writeSecretFile(keyPath, privateKey.export({ type: "pkcs8", format: "pem" }).toString());
      created = true;
    } else {
      privateKey = createPrivateKey(pem);
      if (privateKey.asymmetricKeyType !== "ed25519") {
        throw new WasmatrixError(
          ErrorCode.FAILED_PRECONDITION,
          `${keyPath} is not an ed25519 private key; move it away and a new one is made on the next start`,
          { path: keyPath },
        );
      }
    }
    const revocations = options.revocations ?? (await FileRevocations.open(options.stateDir));
    const adminPath = created ? join(options.stateDir, ADMIN_TOKEN_FILE) : undefined;
    const authority = new TokenAuthority(
      privateKey,
      createPublicKey(privateKey),
      options.stateDir,
      revocations,
      now,
      adminPath,
    );
    if (adminPath !== undefined) {
      const { token } = await authority.issue({ role: "admin" });
      await writeSecretFile(adminPath, `${token}\n`);
    }
    return authority;
  }

  async issue(request: TokenRequest): Promise<IssuedToken> {
    if (!ROLES.includes(request.role)) {
      throw new WasmatrixError(
        ErrorCode.INVALID_REQUEST,
        `'${String(request.role)}' is not a role: ${ROLES.join(", ")}`,
        {
          role: String(request.role),
        },
      );
    }
    const tenant =
      request.tenant === undefined || request.tenant === "" ? undefined : validateTenant(request.tenant);
    if (request.expiresInMs !== undefined && !(request.expiresInMs > 0)) {
      throw new WasmatrixError(ErrorCode.INVALID_REQUEST, "a token's lifetime must be positive", {});
    }
    const createdAt = this.now();
    const record: TokenRecord = {
      tokenId: `tok_${randomBytes(9).toString("base64url")}`,
      role: request.role,
      ...(tenant === undefined ? {} : { tenant }),
      ...(request.expiresInMs === undefined ? {} : { expiresAt: createdAt + request.expiresInMs }),
      createdAt,
    };
    const jwt = new SignJWT({ role: record.role, ...(tenant === undefined ? {} : { tenant }) })
      .setProtectedHeader({ alg: ALGORITHM })
      .setIssuer(ISSUER)
      .setJti(record.tokenId)
      .setIssuedAt(Math.floor(createdAt / 1000));
    if (record.expiresAt !== undefined) jwt.setExpirationTime(Math.ceil(record.expiresAt / 1000));
    const token = await jwt.sign(this.privateKey);
    await this.updateRegistry((records) => [...records, record]);
    return { token, record };
  }

  /** The claims of a token this key signed, still valid and not revoked; UNAUTHENTICATED otherwise. */
  /**
   * The claims of a token this authority issued, checked on every call: the signature once per
   * distinct token (then remembered, bounded, since an EdDSA verify costs more than the call it
   * guards), the expiry and the revocations every time.
   */
  async verify(token: string): Promise<TokenClaims> {
    const known = this.verified.get(token);
    const claims = known ?? (await this.verifySignature(token));
    if (known === undefined) this.remember(token, claims);
    if (claims.expiresAt !== undefined && claims.expiresAt <= this.now()) {
      throw new WasmatrixError(
        ErrorCode.UNAUTHENTICATED,
        "the API token has expired; ask an admin for a new one (`wasmatrix token create`)",
        {},
      );
    }
    if (this.revocations.has(claims.tokenId)) {
      throw new WasmatrixError(
        ErrorCode.UNAUTHENTICATED,
        `API token ${claims.tokenId} has been revoked; ask an admin for a new one`,
        { tokenId: claims.tokenId },
      );
    }
    return claims;
  }

  /** Tokens whose signature verified, newest last; the oldest leaves when the map is full. */
  private readonly verified = new Map<string, TokenClaims>();

  private remember(token: string, claims: TokenClaims): void {
    if (this.verified.size >= VERIFIED_TOKENS_KEPT) {
      const oldest = this.verified.keys().next().value;
      if (oldest !== undefined) this.verified.delete(oldest);
    }
    this.verified.set(token, claims);
  }

  private async verifySignature(token: string): Promise<TokenClaims> {
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, this.publicKey, {
        algorithms: [ALGORITHM],
        issuer: ISSUER,
        requiredClaims: ["jti"],
        currentDate: new Date(this.now()),
      }));
    } catch (error) {
      throw new WasmatrixError(
        ErrorCode.UNAUTHENTICATED,
        error instanceof joseErrors.JWTExpired
          ? "the API token has expired; ask an admin for a new one (`wasmatrix token create`)"
          : "the API token does not verify (altered, or signed by another cluster's key); check --token / WASMATRIX_TOKEN",
        {},
      );
    }
    const tokenId = payload["jti"];
    const role = payload["role"];
    const tenant = payload["tenant"];
    const exp = payload["exp"];
    if (
      typeof tokenId !== "string" ||
      !ROLES.includes(role as Role) ||
      (tenant !== undefined && typeof tenant !== "string")
    ) {
      throw new WasmatrixError(
        ErrorCode.UNAUTHENTICATED,
        "the API token's claims are not a wasmatrix token's",
        {},
      );
    }
    return {
      tokenId,
      role: role as Role,
      ...(typeof tenant === "string" ? { tenant } : {}),
      ...(typeof exp === "number" ? { expiresAt: exp * 1000 } : {}),
    };
  }

  /** Every token this state dir issued, newest last, with whether it is revoked. */
  async list(): Promise<(TokenRecord & { revoked: boolean })[]> {
    const records = await this.readRegistry();
    return records.map((r) => ({ ...r, revoked: this.revocations.has(r.tokenId) }));
  }

  /** Revokes a token by id: every control plane sharing the revocations refuses it from then on. */
  async revoke(tokenId: string): Promise<TokenRecord & { revoked: boolean }> {
    const record = (await this.readRegistry()).find((r) => r.tokenId === tokenId);
    if (record === undefined) {
      throw new WasmatrixError(
        ErrorCode.INVALID_REQUEST,
        `no token with id '${tokenId.slice(0, 64)}' was issued here; \`wasmatrix token list\` shows the ids`,
        { tokenId: tokenId.slice(0, 64) },
      );
    }
    await this.revocations.add(tokenId);
    return { ...record, revoked: true };
  }

  close(): void {
    this.revocations.close();
  }

  private async readRegistry(): Promise<TokenRecord[]> {
    const text = await readOptional(join(this.stateDir, TOKEN_REGISTRY_FILE));
    if (text === undefined) return [];
    const parsed: unknown = JSON.parse(text);
    return Array.isArray(parsed) ? (parsed as TokenRecord[]) : [];
  }

  private registryWrites: Promise<unknown> = Promise.resolve();

  /** Writes are chained so that two concurrent creates both land. */
  private updateRegistry(change: (records: TokenRecord[]) => TokenRecord[]): Promise<void> {
    const write = this.registryWrites.then(async () => {
      const next = change(await this.readRegistry());
      await writeSecretFile(join(this.stateDir, TOKEN_REGISTRY_FILE), `${JSON.stringify(next, null, 2)}\n`);
    });
    this.registryWrites = write.catch(() => undefined);
    return write;
  }
}

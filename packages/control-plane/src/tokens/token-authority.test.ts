import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ErrorCode } from "@wasmatrix/core";
import { rejection } from "@wasmatrix/core/test-support/expect-code";
import { SignJWT } from "jose";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { REVOCATIONS_FILE } from "./revocations.js";
import {
  ADMIN_TOKEN_FILE,
  SIGNING_KEY_FILE,
  TOKEN_REGISTRY_FILE,
  TokenAuthority,
} from "./token-authority.js";

async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("the token authority", () => {
  let dir: string;
  const opened: TokenAuthority[] = [];
  const open = async (options: { now?: () => number } = {}) => {
    const authority = await TokenAuthority.open({ stateDir: dir, ...options });
    opened.push(authority);
    return authority;
  };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "wasmatrix-tokens-"));
  });
  afterEach(async () => {
    for (const a of opened.splice(0)) a.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("writes its key and a first admin token with mode 0600 on the first start only", async () => {
    const first = await open();
    expect(first.adminTokenPath).toBe(join(dir, ADMIN_TOKEN_FILE));
    for (const file of [SIGNING_KEY_FILE, ADMIN_TOKEN_FILE, TOKEN_REGISTRY_FILE]) {
      expect((await stat(join(dir, file))).mode & 0o777, file).toBe(0o600);
    }
    const admin = (await readFile(join(dir, ADMIN_TOKEN_FILE), "utf8")).trim();
    expect(await first.verify(admin)).toMatchObject({ role: "admin" });
    const second = await open();
    expect(second.adminTokenPath).toBeUndefined();
    // Stateless: another authority on the same key verifies the first one's tokens.
    expect(await second.verify(admin)).toMatchObject({ role: "admin" });
  });

  it("round-trips role, tenant and expiry, and never stores the token itself", async () => {
    const authority = await open();
    const { token, record } = await authority.issue({
      role: "deployer",
      tenant: "shop",
      expiresInMs: 60_000,
    });
    const claims = await authority.verify(token);
    expect(claims).toMatchObject({ tokenId: record.tokenId, role: "deployer", tenant: "shop" });
    expect(Math.abs(claims.expiresAt! - record.expiresAt!)).toBeLessThan(1_000);
    const registry = await readFile(join(dir, TOKEN_REGISTRY_FILE), "utf8");
    expect(registry).toContain(record.tokenId);
    expect(registry).not.toContain(token);
    expect((await authority.list()).map((r) => r.tokenId)).toContain(record.tokenId);
  });

  it("refuses an expired token with UNAUTHENTICATED", async () => {
    let now = Date.now();
    const authority = await open({ now: () => now });
    const { token } = await authority.issue({ role: "reader", expiresInMs: 5_000 });
    await authority.verify(token);
    now += 10_000;
    const error = await rejection(authority.verify(token));
    expect(error.code).toBe(ErrorCode.UNAUTHENTICATED);
    expect(error.message).toContain("expired");
  });

  it("refuses a revoked token, in this authority and, through the watched file, in another", async () => {
    const a = await open();
    const b = await open();
    const { token, record } = await a.issue({ role: "reader" });
    await b.verify(token);
    await a.revoke(record.tokenId);
    expect((await rejection(a.verify(token))).code).toBe(ErrorCode.UNAUTHENTICATED);
    await until(async () => {
      try {
        await b.verify(token);
        return false;
      } catch {
        return true;
      }
    });
    expect((await stat(join(dir, REVOCATIONS_FILE))).mode & 0o777).toBe(0o600);
    expect((await a.list()).find((r) => r.tokenId === record.tokenId)?.revoked).toBe(true);
  });

  it("refuses altered tokens, tokens of another key, unsigned ones and garbage", async () => {
    const authority = await open();
    const { token } = await authority.issue({ role: "reader", tenant: "shop" });
    const [header, payload, signature] = token.split(".");
    const forgedPayload = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(payload!, "base64url").toString()), role: "admin" }),
    ).toString("base64url");
    const otherKey = generateKeyPairSync("ed25519").privateKey;
    const foreign = await new SignJWT({ role: "admin" })
      .setProtectedHeader({ alg: "EdDSA" })
      .setIssuer("wasmatrix")
      .setJti("tok_x")
      .sign(otherKey);
    const unsigned = `${Buffer.from(JSON.stringify({ alg: "none" })).toString("base64url")}.${payload}.`;
    for (const bad of [
      `${header}.${forgedPayload}.${signature}`,
      foreign,
      unsigned,
      "",
      "a.b.c",
      "x".repeat(5000),
    ]) {
      expect((await rejection(authority.verify(bad))).code).toBe(ErrorCode.UNAUTHENTICATED);
    }
  });

  it("refuses unknown roles, malformed tenants and revoking an id it never issued", async () => {
    const authority = await open();
    expect((await rejection(authority.issue({ role: "root" as "admin" }))).code).toBe(
      ErrorCode.INVALID_REQUEST,
    );
    expect((await rejection(authority.issue({ role: "reader", tenant: "../b" }))).code).toBe(
      ErrorCode.INVALID_REQUEST,
    );
    expect((await rejection(authority.revoke("tok_nope"))).code).toBe(ErrorCode.INVALID_REQUEST);
  });

  it("refuses to start on a signing key file that is not an ed25519 key", async () => {
    await writeFile(join(dir, SIGNING_KEY_FILE), "not a key", { mode: 0o600 });
    await expect(TokenAuthority.open({ stateDir: dir })).rejects.toThrow();
  });
});

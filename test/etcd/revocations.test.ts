import { copyFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SIGNING_KEY_FILE, TokenAuthority } from "@wasmatrix/control-plane";
import { ErrorCode, WasmatrixError } from "@wasmatrix/core";
import { EtcdRevocations } from "@wasmatrix/daemons";
import { EtcdMetadata, REVOCATIONS_PREFIX } from "@wasmatrix/etcd";
import { Etcd3 } from "etcd3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type EtcdServer, startEtcd } from "../support/etcd.js";
import { waitFor } from "./harness.js";

/** Two control planes with the same signing key and one etcd: a revocation in one reaches the other. */
describe("token revocations in etcd", () => {
  let etcd: EtcdServer;
  const dirs: string[] = [];
  const authorities: TokenAuthority[] = [];

  beforeAll(async () => {
    etcd = await startEtcd();
  }, 60_000);
  afterAll(async () => {
    for (const a of authorities) a.close();
    await etcd?.stop();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  async function authority(stateDir: string): Promise<TokenAuthority> {
    const metadata = await EtcdMetadata.connect({ endpoints: etcd.endpoints });
    const revocations = await EtcdRevocations.open(metadata, { owns: true });
    const opened = await TokenAuthority.open({ stateDir, revocations });
    authorities.push(opened);
    return opened;
  }

  it("makes a token revoked in one control plane refused by another that shares only the key and etcd", async () => {
    const dirA = await mkdtemp(join(tmpdir(), "wasmatrix-rev-a-"));
    const dirB = await mkdtemp(join(tmpdir(), "wasmatrix-rev-b-"));
    dirs.push(dirA, dirB);
    const a = await authority(dirA);
    await copyFile(join(dirA, SIGNING_KEY_FILE), join(dirB, SIGNING_KEY_FILE));
    const b = await authority(dirB);
    const { token, record } = await a.issue({ role: "deployer", tenant: "shop" });
    expect(await b.verify(token)).toMatchObject({ tokenId: record.tokenId });
    await a.revoke(record.tokenId);
    await waitFor("the revocation to reach the other control plane", async () => {
      try {
        await b.verify(token);
        return undefined;
      } catch (error) {
        return WasmatrixError.is(error) && error.code === ErrorCode.UNAUTHENTICATED ? true : undefined;
      }
    });
    // It is in etcd, under the one prefix the key guard allows for it, not in B's state dir.
    const raw = new Etcd3({ hosts: etcd.endpoints });
    try {
      expect(Object.keys(await raw.getAll().prefix(REVOCATIONS_PREFIX).strings())).toEqual([
        `${REVOCATIONS_PREFIX}${record.tokenId}`,
      ]);
    } finally {
      raw.close();
    }
    // A control plane started later learns it from etcd's list.
    const c = await authority(dirB);
    await expect(c.verify(token)).rejects.toMatchObject({ code: ErrorCode.UNAUTHENTICATED });
  }, 60_000);
});

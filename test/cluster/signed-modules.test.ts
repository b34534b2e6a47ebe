import { createHash, generateKeyPairSync } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { WasmatrixClient } from "@wasmatrix/client";
import { ErrorCode, formatSignature, signDigest } from "@wasmatrix/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { always, count, reactor, startReactor } from "./guest.js";
import { Cluster, type Daemon, failure, waitFor } from "./harness.js";

/**
 * Node agents with --trusted-keys behind a control plane without them: the node is the one that
 * refuses, and a signed instance moved by failover reaches the other node with its signature.
 */
describe("node agents started with --trusted-keys", () => {
  const cluster = new Cluster();
  let client: WasmatrixClient;
  let nb: Daemon;
  let signature: string;
  let dir: string | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "wasmatrix-trusted-"));
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    await writeFile(join(dir, "release.pub"), publicKey.export({ format: "pem", type: "spki" }));
    const digest = `sha256:${createHash("sha256")
      .update(await reactor())
      .digest("hex")}`;
    signature = formatSignature(signDigest(digest, privateKey));
    const cp = await cluster.controlPlane();
    [, nb] = await Promise.all([
      cluster.nodeAgent({ nodeId: "na", controlPlane: cp.address, labels: { zone: "a" }, trustedKeys: dir }),
      cluster.nodeAgent({ nodeId: "nb", controlPlane: cp.address, labels: { zone: "b" }, trustedKeys: dir }),
    ]);
    client = cluster.client(cp.address);
    await cluster.nodesAlive(client, ["na", "nb"]);
  }, 60_000);
  afterAll(async () => {
    await cluster.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it("refuse an unsigned module that the control plane let through", async () => {
    const error = await failure(startReactor(client, { instanceId: "unsigned" }));
    expect(error.code).toBe(ErrorCode.MODULE_SIGNATURE_INVALID);
    expect(error.details["reason"]).toBe("unsigned");
  });

  it("run a signed module, and check its signature again on the node failover moves it to", async () => {
    const started = await startReactor(client, {
      instanceId: "signed",
      restartPolicy: always,
      preferredNodeLabels: { zone: "b" },
      moduleSignature: signature,
    });
    expect(started.nodeId).toBe("nb");
    expect(await count(client, "signed")).toBe(1);

    await nb.kill("SIGKILL");

    const moved = await waitFor(
      "the signed instance to run on na",
      async () => {
        const { instance } = await client.queryInstance({ instanceId: "signed", factLimit: 0 });
        return instance?.nodeId === "na" && instance.status === "running" ? instance : undefined;
      },
      { timeoutMs: 15_000 },
    );
    expect(moved.nodeId).toBe("na");
    // A fresh instance on na: its counter starts again.
    expect(await count(client, "signed")).toBe(1);
  }, 60_000);
});

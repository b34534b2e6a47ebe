import { spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { invokeRequest, type WasmatrixClient } from "@wasmatrix/client";
import { ErrorCode, parseAssignment } from "@wasmatrix/core";
import {
  assignmentToProto,
  connectControlPlane,
  connectNode,
  connectProvider,
  loadTls,
  type TlsMaterial,
} from "@wasmatrix/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initAuthority, issueCertificate } from "../../packages/cli/src/certs/authority.js";
import { capabilityCall } from "../../packages/node-agent/src/test-support/guests.js";
import { startReactor } from "../cluster/guest.js";
import { Cluster, type Daemon, failure, freePort, spawnDaemon, waitFor } from "../cluster/harness.js";

/**
 * A cluster of real daemons with mutual TLS on 127.0.0.1, certificates made by `wasmatrix certs`,
 * and the issue's adversarial run replayed against it: each forged registration, report,
 * deregistration, assignment and provider call is refused, and the cluster is unchanged after.
 */
const BIN = fileURLToPath(new URL("../../packages/cli/bin/wasmatrix.js", import.meta.url));

function wasmatrix(...args: string[]): void {
  const run = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8" });
  if (run.status !== 0) throw new Error(`wasmatrix ${args.join(" ")} exited ${run.status}: ${run.stderr}`);
}

describe("an mTLS cluster", () => {
  let pki: string;
  let rogueCa: string;
  let cluster: Cluster;
  let client: WasmatrixClient;
  let controlPlane: Daemon;
  let node: Daemon;
  let provider: Daemon;
  const material = (base: string): TlsMaterial => cluster.tls(base)!;

  const kv = async (operation: string, payload: unknown) => {
    const result = await client.invoke(
      invokeRequest("user", "call", capabilityCall("default", "wasmatrix:keyvalue", operation, payload)),
    );
    expect(result.outcome?.status).toBe("ok");
    return result.guestError === ""
      ? { ok: true, text: result.response.toString() }
      : { ok: false, text: result.guestError };
  };

  beforeAll(async () => {
    pki = await mkdtemp(join(tmpdir(), "wasmatrix-pki-"));
    wasmatrix("certs", "init", "--dir", pki);
    for (const holder of [
      ["--control-plane"],
      ["--client", "harness"],
      ["--node", "n1"],
      ["--node", "n2"],
      ["--provider", "kv-1"],
    ]) {
      wasmatrix("certs", "issue", "--dir", pki, ...holder);
    }
    // Another CA, with a certificate for the very node id the cluster knows.
    rogueCa = await mkdtemp(join(tmpdir(), "wasmatrix-rogue-"));
    await initAuthority(rogueCa);
    await issueCertificate(rogueCa, { kind: "node", id: "n1" });

    cluster = new Cluster(pki);
    controlPlane = await cluster.controlPlane();
    node = await cluster.nodeAgent({ nodeId: "n1", controlPlane: controlPlane.address });
    provider = await cluster.provider({
      capability: "keyvalue",
      providerId: "kv-1",
      controlPlane: controlPlane.address,
    });
    client = cluster.client(controlPlane.address);
    await cluster.nodesAlive(client, ["n1"]);
    await waitFor("kv-1 listed alive", async () =>
      (await client.listProviders()).providers.some((p) => p.providerId === "kv-1" && p.status === "alive")
        ? true
        : undefined,
    );
    await startReactor(client, {
      instanceId: "user",
      env: { DB_PASSWORD: "hunter2" },
      assignments: [
        {
          capability: "keyvalue",
          provider: "kv-1",
          binding: "default",
          permissions: ["kv:read", "kv:write"],
        },
      ],
    });
  }, 120_000);
  afterAll(async () => {
    await cluster?.close();
    await rm(pki, { recursive: true, force: true });
    await rm(rogueCa, { recursive: true, force: true });
  });

  /** n1 is still the one registered node, alive at its own address, running `user` untouched. */
  async function clusterUnchanged(): Promise<void> {
    const { nodes } = await client.listNodes();
    expect(nodes.map((n) => [n.nodeId, n.address, n.status])).toEqual([["n1", node.address, "alive"]]);
    const { instance } = await client.queryInstance({ instanceId: "user", factLimit: 0 });
    expect(instance).toMatchObject({ status: "running", nodeId: "n1", restarts: 0 });
    expect(instance?.assignments.map((a) => a.capability)).toEqual(["keyvalue"]);
  }

  it("runs an instance whose keyvalue calls reach a provider process over mTLS", async () => {
    await waitFor("the node routes to kv-1", async () =>
      (await kv("set", { key: "k", value: "v1" })).ok ? true : undefined,
    );
    expect(await kv("get", { key: "k" })).toEqual({ ok: true, text: "v1" });
  });

  it("refuses a node agent without a certificate", async () => {
    const rogue = connectControlPlane(controlPlane.address, { timeoutMs: 3_000 });
    try {
      const error = await failure(
        rogue.registerNode({
          node: { ...(await client.listNodes()).nodes[0]!, nodeId: "rogue", address: "127.0.0.1:1" },
          protocolVersion: "1.0",
        }),
      );
      expect(error.code).toBe(ErrorCode.NODE_UNAVAILABLE);
    } finally {
      rogue.close();
    }
    await clusterUnchanged();
  });

  it("refuses a node agent whose certificate another CA signed, even for a known node id", async () => {
    const other = loadTls({
      ca: join(pki, "ca.crt"), // it trusts the real server: the refusal is the server's
      cert: join(rogueCa, "node-n1.crt"),
      key: join(rogueCa, "node-n1.key"),
    });
    const rogue = connectControlPlane(controlPlane.address, { timeoutMs: 3_000, tls: other });
    try {
      const error = await failure(rogue.deregisterNode({ nodeId: "n1" }));
      expect(error.code).toBe(ErrorCode.NODE_UNAVAILABLE);
    } finally {
      rogue.close();
    }
    await clusterUnchanged();
  });

  it("never lets a node-agent process without a certificate, or with another CA's for n1, join", {
    timeout: 90_000,
  }, async () => {
    const rogueTls = [
      "--tls-ca",
      join(pki, "ca.crt"),
      "--tls-cert",
      join(rogueCa, "node-n1.crt"),
      "--tls-key",
      join(rogueCa, "node-n1.key"),
    ];
    const rogues: Daemon[] = [];
    try {
      for (const [nodeId, tls] of [
        ["plain", []],
        ["n1", rogueTls],
      ] as const) {
        const address = `127.0.0.1:${await freePort()}`;
        const args = [
          "node-agent",
          "--node-id",
          nodeId,
          "--listen",
          address,
          "--control-plane",
          controlPlane.address,
        ];
        rogues.push(spawnDaemon(`rogue ${nodeId}`, address, [...args, ...tls, "--log-level", "warn"]));
      }
      for (const rogue of rogues) {
        await waitFor(
          `${rogue.name} told it cannot reach the control plane`,
          () => (rogue.stderr().includes("control plane unreachable") ? true : undefined),
          { timeoutMs: 30_000 },
        );
      }
    } finally {
      await Promise.all(rogues.map((r) => r.kill("SIGKILL")));
    }
    await clusterUnchanged();
  });

  it("refuses a node that registers, reports or deregisters as another node's id", async () => {
    const n2 = connectControlPlane(controlPlane.address, { tls: material("node-n2") });
    try {
      const hijack = await failure(
        n2.registerNode({
          node: { ...(await client.listNodes()).nodes[0]!, address: "127.0.0.1:1" },
          protocolVersion: "1.0",
        }),
      );
      expect(hijack.code).toBe(ErrorCode.PERMISSION_DENIED);
      const report = await failure(
        n2.reportStatus({ nodeId: "n1", instances: [], facts: [], partial: false }),
      );
      expect(report.code).toBe(ErrorCode.PERMISSION_DENIED);
      expect((await failure(n2.deregisterNode({ nodeId: "n1" }))).code).toBe(ErrorCode.PERMISSION_DENIED);
    } finally {
      n2.close();
    }
    await clusterUnchanged();
  });

  it("records no fact a node reports about another node", async () => {
    const n1 = connectControlPlane(controlPlane.address, { tls: material("node-n1") });
    try {
      const forged = {
        seq: 0,
        source: "forged",
        sourceSeq: 1,
        kind: "instance.crashed",
        instanceId: "user",
        nodeId: "n9",
        atMs: Date.now(),
        dataJson: "{}",
        tenant: "",
      };
      expect(
        (await n1.reportStatus({ nodeId: "n1", instances: [], facts: [forged], partial: true })).known,
      ).toBe(true);
    } finally {
      n1.close();
    }
    const { recentFacts } = await client.queryInstance({ instanceId: "user", factLimit: 1_000 });
    expect(recentFacts.length).toBeGreaterThan(0);
    expect(recentFacts.filter((f) => f.source === "forged")).toEqual([]);
    await clusterUnchanged();
  });

  it("refuses ReportStatus and DeregisterNode forged with a client certificate", async () => {
    const report = await failure(
      client.reportStatus({ nodeId: "n1", instances: [], facts: [], partial: false }),
    );
    expect(report.code).toBe(ErrorCode.PERMISSION_DENIED);
    expect((await failure(client.deregisterNode({ nodeId: "n1" }))).code).toBe(ErrorCode.PERMISSION_DENIED);
    await clusterUnchanged();
  });

  it("lets only a control plane call NodeAgent.SetAssignments", async () => {
    const http = assignmentToProto(parseAssignment("http=http:request"));
    for (const base of ["client-harness", "node-n2"]) {
      const direct = connectNode(node.address, { tls: material(base) });
      try {
        const error = await failure(direct.setAssignments({ instanceId: "user", assignments: [http] }));
        expect(error.code).toBe(ErrorCode.PERMISSION_DENIED);
      } finally {
        direct.close();
      }
    }
    const plain = connectNode(node.address, { timeoutMs: 3_000 });
    try {
      expect((await failure(plain.setAssignments({ instanceId: "user", assignments: [http] }))).code).toBe(
        ErrorCode.NODE_UNAVAILABLE,
      );
    } finally {
      plain.close();
    }
    await clusterUnchanged();
  });

  it("serves provider calls only to nodes, and takes the node id from the certificate", async () => {
    const forged = {
      nodeId: "n1",
      instanceId: "user",
      binding: "default",
      operation: "set",
      payload: Buffer.from(JSON.stringify({ key: "k", value: "forged" })),
      scope: "user",
      tenant: "",
      permissions: ["kv:read", "kv:write"],
      remainingMs: 1_000,
    };
    for (const base of ["client-harness", "control-plane"]) {
      const direct = connectProvider(provider.address, { tls: material(base) });
      try {
        expect((await failure(direct.call(forged, 3_000))).code).toBe(ErrorCode.PERMISSION_DENIED);
      } finally {
        direct.close();
      }
    }
    // n2 holds a node certificate but is not a live node: naming n1 in the request does not help.
    const n2 = connectProvider(provider.address, { tls: material("node-n2") });
    try {
      const error = await failure(n2.call(forged, 3_000));
      expect(error.code).toBe(ErrorCode.PERMISSION_DENIED);
      expect(error.message).toContain("'n2'");
    } finally {
      n2.close();
    }
    expect(await kv("get", { key: "k" })).toEqual({ ok: true, text: "v1" });
  });
});

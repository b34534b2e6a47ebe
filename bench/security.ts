/**
 * What transport security costs (issue 15): StartInstance and Invoke round trips through a real
 * control plane and node agent over gRPC on 127.0.0.1, with mutual TLS beside the same without
 * it, measured in the same run with samples interleaved, so drift in the machine's load falls
 * on both alike. Each variant is one entry of VARIANTS: another layer (tokens) is one more entry.
 * `npm run bench -- security`, or alone: `npx tsx --conditions=wasmatrix-source bench/security.ts`.
 */

import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { invokeRequest, startRequest, type WasmatrixClient } from "@wasmatrix/client";
import { connectNode, type NodeConnection } from "@wasmatrix/proto";
import { wat } from "@wasmatrix/runtime/test-support/wat";
import { initAuthority, issueCertificate } from "../packages/cli/src/certs/authority.js";
import { Cluster } from "../test/cluster/harness.js";
import { type Figure, type SuiteResult, targets, textTable } from "./report.js";
import { summarize } from "./stats.js";
import type { Suite, SuiteOptions } from "./suite.js";

const START_WARMUP = 300;
const START_SAMPLES = 300;
const INVOKE_WARMUP = 1_000;
const INVOKE_SAMPLES = 2_000;
const PAYLOAD = Buffer.from("0123456789abcdef");

/** One way of running the cluster: its daemons and the client that measures it. */
interface Variant {
  label: string;
  cluster: Cluster;
  client: WasmatrixClient;
  /** Straight to the node, to stop what the timed starts started, outside the timing. */
  node: NodeConnection;
}

async function variant(label: string, pki: string | undefined, nodeId: string): Promise<Variant> {
  const cluster = new Cluster(pki);
  const cp = await cluster.controlPlane();
  const node = await cluster.nodeAgent({ nodeId, controlPlane: cp.address });
  const client = cluster.client(cp.address);
  await cluster.nodesAlive(client, [nodeId]);
  return { label, cluster, client, node: connectNode(node.address, { tls: cluster.tls("control-plane") }) };
}

const micros = (t0: number) => (performance.now() - t0) * 1000;

async function run(options: SuiteOptions): Promise<SuiteResult> {
  const started = performance.now();
  const pki = await mkdtemp(join(tmpdir(), "wasmatrix-bench-pki-"));
  await initAuthority(pki);
  for (const identity of [
    { kind: "control-plane" as const },
    { kind: "client" as const, name: "harness" },
    { kind: "node" as const, id: "plain" },
    { kind: "node" as const, id: "mtls" },
  ]) {
    await issueCertificate(pki, identity);
  }
  const variants: Variant[] = [];
  try {
    options.log("security: starting a plain and an mTLS cluster");
    variants.push(await variant("plain gRPC", undefined, "plain"));
    variants.push(await variant("mTLS", pki, "mtls"));
    const module = Buffer.from(
      await wat(readFileSync(new URL("../examples/wat/echo_reactor.wat", import.meta.url), "utf8")),
    );
    const digests = new Map<Variant, string>();
    for (const v of variants) {
      digests.set(
        v,
        (await v.client.startInstance(startRequest({ instanceId: "echo", module }))).moduleDigest,
      );
    }

    options.log("security: StartInstance round trips");
    const startTimes = new Map<Variant, number[]>(variants.map((v) => [v, []]));
    let next = 0;
    for (let i = 0; i < START_WARMUP + START_SAMPLES; i++) {
      for (const v of variants) {
        const instanceId = `s-${next++}`;
        const t0 = performance.now();
        await v.client.startInstance(startRequest({ instanceId, moduleDigest: digests.get(v)! }));
        if (i >= START_WARMUP) startTimes.get(v)!.push(micros(t0));
        await v.node.stopInstance({ instanceId, deadlineMs: 0 });
      }
    }

    options.log("security: Invoke round trips");
    const invokeTimes = new Map<Variant, number[]>(variants.map((v) => [v, []]));
    for (let i = 0; i < INVOKE_WARMUP + INVOKE_SAMPLES; i++) {
      for (const v of variants) {
        const t0 = performance.now();
        const r = await v.client.invoke(invokeRequest("echo", "echo", PAYLOAD));
        if (i >= INVOKE_WARMUP) invokeTimes.get(v)!.push(micros(t0));
        if (r.outcome?.status !== "ok") throw new Error(`echo failed on ${v.label}`);
      }
    }

    const [plain, ...secured] = variants;
    const figures: Figure[] = [];
    for (const [what, times] of [
      ["StartInstance round trip, cached module (by digest), client → control plane → node", startTimes],
      ["Invoke round trip, 16-byte echo, client → control plane → node", invokeTimes],
    ] as const) {
      const base = summarize(times.get(plain!)!);
      for (const v of secured) {
        const s = summarize(times.get(v)!);
        const baseline = { label: `${plain!.label}, same run`, value: base.median / 1000 };
        figures.push({
          name: `${what}, ${v.label}`,
          value: s.median / 1000,
          p99: s.p99 / 1000,
          unit: "ms",
          baselines: [baseline],
          target: targets.ratioAtMost(s.median / 1000, baseline, 1.2),
        });
      }
    }
    return {
      name: "security",
      title: "Transport security (issue 15)",
      figures,
      notes: [
        `real wasmatrix control-plane and node-agent processes (the CLI) on 127.0.0.1: one plain cluster and one with mutual TLS (ECDSA P-256 certificates from the certs module), samples interleaved between them; ${START_SAMPLES} starts after ${START_WARMUP} untimed, ${INVOKE_SAMPLES.toLocaleString("en-US")} invokes after ${INVOKE_WARMUP.toLocaleString("en-US")}`,
        "connections are long-lived, as a client's and a control plane's are: the TLS handshake is paid once per channel; the figures are the per-call cost of encryption and the identity check",
      ],
      elapsedMs: performance.now() - started,
    };
  } finally {
    for (const v of variants) {
      v.node.close();
      await v.cluster.close();
    }
    await rm(pki, { recursive: true, force: true });
  }
}

export const securitySuite: Suite = {
  name: "security",
  title: "Transport security (issue 15)",
  summary:
    "StartInstance and Invoke round trips over gRPC with mutual TLS beside the same without, real daemons on 127.0.0.1, same run.",
  run,
};

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const t0 = performance.now();
  const log = (line: string) =>
    console.error(`[bench] ${((performance.now() - t0) / 1000).toFixed(1)} s ${line}`);
  console.log(`\n${textTable(await securitySuite.run({ long: false, log }))}`);
}

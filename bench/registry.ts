/**
 * OCI registry: pulling a 1 MiB module (manifest, blob, two digest checks) from a real local
 * registry, beside a plain HTTP GET of the same blob in the same run; and pushing it.
 *
 * Runs as a suite of `bench/run.ts` (export `registrySuite`) or alone: `npx tsx --conditions=wasmatrix-source bench/registry.ts`.
 */
import { randomBytes } from "node:crypto";
import { pathToFileURL } from "node:url";
import { parseReference, RegistryClient } from "@wasmatrix/oci";
import { request } from "undici";
import { startRegistry } from "../test/support/registry.js";
import { type SuiteResult, textTable } from "./report.js";
import { summarize } from "./stats.js";
import type { Suite, SuiteOptions } from "./suite.js";

const MODULE_BYTES = 1024 * 1024;
const WARMUP = 5;
const RUNS = 40;

async function timed(
  runs: number,
  body: (i: number) => Promise<void>,
): Promise<{ median: number; p99: number }> {
  const times: number[] = [];
  for (let i = 0; i < WARMUP + runs; i++) {
    const started = performance.now();
    await body(i);
    if (i >= WARMUP) times.push((performance.now() - started) * 1000);
  }
  const s = summarize(times);
  return { median: s.median / 1000, p99: s.p99 / 1000 };
}

async function run(options: SuiteOptions): Promise<SuiteResult> {
  const startedAt = performance.now();
  const registry = await startRegistry();
  try {
    const client = new RegistryClient();
    const module = randomBytes(MODULE_BYTES);
    const ref = parseReference(`${registry.host}/bench/module:1`);
    const pushed = await client.push(ref, module);
    options.log(`pushed ${pushed.pinned}`);

    const pull = await timed(RUNS, async () => {
      const pulled = await client.pull(ref);
      if (pulled.bytes.length !== MODULE_BYTES) throw new Error("short pull");
    });
    const plain = await timed(RUNS, async () => {
      const res = await request(`http://${registry.host}/v2/bench/module/blobs/${pushed.layerDigest}`);
      const body = await res.body.arrayBuffer();
      if (body.byteLength !== MODULE_BYTES) throw new Error("short GET");
    });
    // Every push after the first finds its blobs present and only stores the manifest, as a
    // re-push of the same build does; a fresh module each time measures the upload.
    const push = await timed(RUNS / 4, async (i) => {
      await client.push(parseReference(`${registry.host}/bench/push:${i}`), randomBytes(MODULE_BYTES));
    });
    const plainPut = await timed(RUNS / 4, async () => {
      const res = await request(`http://${registry.host}/v2/bench/plain/blobs/uploads/`, { method: "POST" });
      await res.body.dump();
      const location = new URL(String(res.headers.location), `http://${registry.host}`);
      const bytes = randomBytes(MODULE_BYTES);
      const { createHash } = await import("node:crypto");
      location.searchParams.set("digest", `sha256:${createHash("sha256").update(bytes).digest("hex")}`);
      const put = await request(location, { method: "PUT", body: bytes });
      await put.body.dump();
    });
    return {
      name: "registry",
      title: "OCI registry: push and pull of a 1 MiB module",
      figures: [
        {
          name: "pull 1 MiB module (manifest + blob + digest checks)",
          value: pull.median,
          p99: pull.p99,
          unit: "ms",
          baselines: [{ label: "plain GET of the blob", value: plain.median }],
        },
        {
          name: "push 1 MiB module (HEAD + upload of 2 blobs + manifest)",
          value: push.median,
          p99: push.p99,
          unit: "ms",
          baselines: [{ label: "plain POST + PUT of the blob", value: plainPut.median }],
        },
      ],
      notes: [
        `Debian docker-registry on 127.0.0.1, filesystem storage in a temp dir; ${RUNS} pulls and ${RUNS / 4} pushes after ${WARMUP} warm-ups, medians.`,
      ],
      elapsedMs: performance.now() - startedAt,
    };
  } finally {
    await registry.stop();
  }
}

export const registrySuite: Suite = {
  name: "registry",
  title: "OCI registry",
  summary:
    "Pull of a 1 MiB module from a local registry beside a plain HTTP GET of the same blob; push beside a plain upload.",
  run,
};

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const result = await run({ long: false, log: (line) => console.error(line) });
  console.log(textTable(result));
}

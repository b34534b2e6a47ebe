/**
 * What signed modules and the audit log cost (issue 15): a signature check and an audit append,
 * each beside the work it sits next to, and a whole embedded start with both on beside the same
 * start with both off, taken in turns in one run.
 */
import { createHash, generateKeyPairSync } from "node:crypto";
import { appendFile, mkdtemp, open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startRequest } from "@wasmatrix/client";
import { AuditLog } from "@wasmatrix/control-plane";
import {
  ANONYMOUS,
  formatSignature,
  signDigest,
  trustedKeysFrom,
  verifyModuleSignature,
} from "@wasmatrix/core";
import { createEmbedded } from "@wasmatrix/embedded";
import { echoReactor } from "./guests.js";
import type { Figure, SuiteResult } from "./report.js";
import { sampleAsync, sampleSync, summarize } from "./stats.js";
import type { Suite, SuiteOptions } from "./suite.js";

const STARTS = 150;
const STARTS_WARMUP = 15;

async function run({ log }: SuiteOptions): Promise<SuiteResult> {
  const started = performance.now();
  const dir = await mkdtemp(join(tmpdir(), "wasmatrix-bench-audit-"));
  const module = Buffer.from(await echoReactor());
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const trustedKeys = trustedKeysFrom([
    { name: "bench.pub", pem: publicKey.export({ format: "pem", type: "spki" }).toString() },
  ]);
  const digestOf = (bytes: Uint8Array) => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
  const digest = digestOf(module);
  const signature = formatSignature(signDigest(digest, privateKey));

  log("sign-audit: signature check");
  const verify = sampleSync(() => verifyModuleSignature(digest, signature, trustedKeys), { samples: 2000 });
  const hash = sampleSync(() => digestOf(module), { samples: 2000 });
  const compile = await sampleAsync(() => WebAssembly.compile(module as BufferSource), {
    samples: 200,
    warmup: 20,
  });

  log("sign-audit: audit append");
  const audit = new AuditLog(join(dir, "audit.jsonl"));
  const entry = {
    caller: ANONYMOUS,
    action: "instance.start",
    target: "bench",
    outcome: "ok" as const,
    details: { moduleDigest: digest },
  };
  const append = await sampleAsync(() => audit.append(entry), { samples: 300, warmup: 30 });
  const line = `${JSON.stringify(entry)}${" ".repeat(200)}\n`;
  const raw = await open(join(dir, "raw.jsonl"), "a");
  const rawSynced = await sampleAsync(
    async () => {
      await raw.write(line);
      await raw.sync();
    },
    { samples: 300, warmup: 30 },
  );
  await raw.close();
  const rawUnsynced = await sampleAsync(() => appendFile(join(dir, "unsynced.jsonl"), line), {
    samples: 300,
    warmup: 30,
  });

  log("sign-audit: embedded start, security on and off");
  const plain = await createEmbedded({});
  const secured = await createEmbedded({ trustedKeys, auditFile: join(dir, "embedded.jsonl") });
  const times = { plain: [] as number[], secured: [] as number[] };
  try {
    let id = 0;
    for (let i = 0; i < STARTS_WARMUP + STARTS; i++) {
      for (const [name, cluster] of [
        ["plain", plain],
        ["secured", secured],
      ] as const) {
        const instanceId = `s-${++id}`;
        const t0 = performance.now();
        await cluster.client.startInstance(startRequest({ instanceId, module, moduleSignature: signature }));
        if (i >= STARTS_WARMUP) times[name].push((performance.now() - t0) * 1000);
        await cluster.agent.stop(instanceId);
      }
    }
  } finally {
    await plain.close();
    await secured.close();
  }
  const off = summarize(times.plain);
  const on = summarize(times.secured);

  const figures: Figure[] = [
    {
      name: "signature check (ed25519 verify of the digest, key lookup, .sig parse)",
      value: verify.median,
      p99: verify.p99,
      unit: "µs",
      baselines: [
        { label: "sha256 of the echo module", value: hash.median },
        { label: "WebAssembly.compile of it", value: compile.median },
      ],
    },
    {
      name: "audit append (lock, read the head, chain, write, fsync)",
      value: append.median,
      p99: append.p99,
      unit: "µs",
      baselines: [
        { label: "write + fsync of a line of the same size", value: rawSynced.median },
        { label: "appendFile without fsync", value: rawUnsynced.median },
      ],
    },
    {
      name: "embedded StartInstance with the module's bytes: trusted keys + audit log on",
      value: on.median,
      p99: on.p99,
      unit: "µs",
      baselines: [{ label: "the same start with both off", value: off.median }],
    },
  ];
  return {
    name: "sign-audit",
    title: "Signed modules and the audit log",
    figures,
    notes: [
      `echo module of ${module.byteLength} bytes; the audit file is on ${tmpdir()} (fsync cost depends on that disk)`,
      "the two embedded clusters start in turns, so load drift reaches both alike",
    ],
    elapsedMs: performance.now() - started,
  };
}

export const signAuditSuite: Suite = {
  name: "sign-audit",
  title: "Signed modules and the audit log",
  summary:
    "A signature check and an audit append beside what they sit next to; a start with both on and off.",
  run,
};

/**
 * `npm run bench [-- <suite>…] [--write] [--long]`: runs the named suites (all by default),
 * prints a table per suite and, with `--write`, puts the results in docs/benchmarks.md.
 */
import { capabilitiesSuite } from "./capabilities.js";
import { clusterSuite } from "./cluster.js";
import { currentLoad, DOC_PATH, type RunContext, writeDoc } from "./doc.js";
import { etcdSuite } from "./etcd.js";
import { registrySuite } from "./registry.js";
import { type SuiteResult, textTable } from "./report.js";
import { securitySuite } from "./security.js";
import { signAuditSuite } from "./sign-audit.js";
import type { Suite } from "./suite.js";
import { authSuite } from "./suites/auth.js";
import { embeddedSuite } from "./suites/embedded.js";
import { extismSuite } from "./suites/extism-plugins.js";
import { gatewaySuite } from "./suites/gateway.js";
import { observabilitySuite } from "./suites/observability.js";
import { outputFloodSuite } from "./suites/output-flood.js";
import { runtimeSuite } from "./suites/runtime/index.js";
import { soakSuite } from "./suites/soak.js";
import { triggersSuite } from "./suites/triggers.js";
import { wasiSuite } from "./wasi.js";

const SUITES: Suite[] = [
  runtimeSuite,
  embeddedSuite,
  clusterSuite,
  etcdSuite,
  capabilitiesSuite,
  soakSuite,
  outputFloodSuite,
  authSuite,
  registrySuite,
  extismSuite,
  securitySuite,
  observabilitySuite,
  wasiSuite,
  triggersSuite,
  gatewaySuite,
  signAuditSuite,
];
const FLAGS = new Set(["--write", "--long"]);

const args = process.argv.slice(2);
const names = args.filter((a) => !a.startsWith("--"));
const flags = args.filter((a) => a.startsWith("--"));
const unknown = [
  ...names.filter((n) => !SUITES.some((s) => s.name === n)),
  ...flags.filter((f) => !FLAGS.has(f)),
];
if (unknown.length > 0) {
  console.error(
    `unknown: ${unknown.join(", ")}; suites are ${SUITES.map((s) => s.name).join(", ")}, flags ${[...FLAGS].join(", ")}`,
  );
  process.exit(2);
}

const chosen = names.length === 0 ? SUITES : SUITES.filter((s) => names.includes(s.name));
const command = `npm run bench${args.length === 0 ? "" : ` -- ${args.join(" ")}`}`;
const log = (line: string) => console.error(`[bench] ${line}`);
const results = new Map<string, { result: SuiteResult; context: RunContext }>();
for (const suite of chosen) {
  const loadAtStart = currentLoad();
  const result = await suite.run({ long: flags.includes("--long"), log });
  const context = { command, load: { start: loadAtStart, end: currentLoad() }, finishedAt: new Date() };
  results.set(suite.name, { result, context });
  console.log(`\n${textTable(result)}`);
  console.log(`  · load average ${context.load.start.toFixed(1)} → ${context.load.end.toFixed(1)}`);
}
if (flags.includes("--write")) {
  writeDoc(SUITES, results);
  console.log(`\nwrote ${DOC_PATH.pathname}`);
}

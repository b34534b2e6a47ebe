/**
 * WASI (issue 20): the conformance cases of test/wasi-conformance run under wasmatrix and under
 * Node's own `node:wasi` in the same run — how many each passes, and the wall time of the
 * filesystem cases (fresh instance, preopen, the guest's file work, exit) each way.
 */
import {
  type CaseResult,
  conformanceTable,
  HAVE_TOOLCHAIN,
  runConformance,
} from "../test/wasi-conformance/conformance.js";
import type { Figure, SuiteResult } from "./report.js";
import { summarize } from "./stats.js";
import type { Suite } from "./suite.js";

const ROUNDS = 5;

async function run(): Promise<SuiteResult> {
  const started = performance.now();
  if (!HAVE_TOOLCHAIN) {
    return {
      name: "wasi",
      title: suite.title,
      figures: [],
      notes: ["skipped: no clang + wasi-libc (scripts/install-toolchain.sh)"],
      elapsedMs: 0,
    };
  }
  const rounds: CaseResult[][] = [];
  for (let i = 0; i < ROUNDS; i++) rounds.push(await runConformance());
  const last = rounds.at(-1)!;
  const passed = (pick: (r: CaseResult) => boolean) => last.filter(pick).length;
  const figures: Figure[] = [
    {
      name: `conformance cases passed (of ${last.length})`,
      value: passed((r) => r.wasmatrix.pass),
      unit: "count",
      baselines: [{ label: "node:wasi", value: passed((r) => r.nodeWasi.pass) }],
    },
  ];
  for (const name of ["fs-io-volume", "fs-many-entries", "fs-create-read"]) {
    const pick = (side: "wasmatrix" | "nodeWasi", field: "ms" | "runMs") =>
      summarize(rounds.map((round) => round.find((r) => r.name === name)![side].observed[field])).median;
    figures.push({
      name: `${name}: the guest's _start`,
      value: pick("wasmatrix", "runMs"),
      unit: "ms",
      baselines: [{ label: "node:wasi", value: pick("nodeWasi", "runMs") }],
    });
    figures.push({
      name: `${name}: compile, instantiate and run`,
      value: pick("wasmatrix", "ms"),
      unit: "ms",
      baselines: [{ label: "node:wasi", value: pick("nodeWasi", "ms") }],
      note: "wasmatrix instruments the module (fuel, memory cap) and starts a worker thread per command; node:wasi runs on the calling thread",
    });
  }
  return {
    name: "wasi",
    title: suite.title,
    figures,
    notes: [`medians of ${ROUNDS} rounds; the last round's table:`, ...conformanceTable(last).split("\n")],
    elapsedMs: performance.now() - started,
  };
}

export const suite: Suite = {
  name: "wasi",
  title: "WASI conformance and file I/O, beside node:wasi",
  summary:
    "Conformance cases passed under wasmatrix and node:wasi, and the wall time of filesystem cases each way.",
  run,
};
export { suite as wasiSuite };

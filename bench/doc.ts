/**
 * docs/benchmarks.md: one section per suite, each with the command, date, machine and load of the
 * run that made it. `--write` replaces the sections of the suites it ran and keeps the others,
 * so a partial run never erases figures it did not measure.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg, platform, release, totalmem } from "node:os";
import { markdownTable, type SuiteResult } from "./report.js";
import type { Suite } from "./suite.js";

export const DOC_PATH = new URL("../docs/benchmarks.md", import.meta.url);

export interface RunContext {
  command: string;
  /** One-minute load average when the suite started and when it ended. */
  load: { start: number; end: number };
  finishedAt: Date;
}

const begin = (name: string) => `<!-- suite:${name} -->`;
const end = (name: string) => `<!-- /suite:${name} -->`;

export function machine(): string {
  const model = cpus()[0]?.model.trim() ?? "unknown CPU";
  const memoryGiB = (totalmem() / 1024 ** 3).toFixed(0);
  return `${availableParallelism()} cores (${model}), ${memoryGiB} GiB, ${platform()} ${release()}, Node ${process.version} (V8 ${process.versions.v8})`;
}

export const currentLoad = () => loadavg()[0]!;

function section(suite: Suite, result: SuiteResult, context: RunContext): string {
  const when = `${context.finishedAt.toISOString().slice(0, 16).replace("T", " ")} UTC`;
  return [
    begin(suite.name),
    `## ${suite.title}`,
    "",
    suite.summary,
    "",
    `Command: \`${context.command}\` · ${when} · ${machine()} · load average ${context.load.start.toFixed(1)} at the start, ${context.load.end.toFixed(1)} at the end · ${(result.elapsedMs / 1000).toFixed(1)} s`,
    "",
    markdownTable(result),
    end(suite.name),
  ].join("\n");
}

const HEADER = `# Benchmarks

Written by \`npm run bench -- --write\` (\`bench/run.ts\`); edit the code, not this file. Run every
suite with \`npm run bench\`, some with \`npm run bench -- runtime embedded\`, the long endurance
run with \`--long\`.

How to read the tables: a figure is the median of its samples (warm-up samples discarded) unless
its name says otherwise, with the 99th percentile beside it. Every figure stands beside baselines
measured in the same run, on the same machine: raw V8 doing the same work with no runtime around
it, the thread wake-up floor, and the Extism JS host (\`@extism/extism\`) where the figure is
comparable; the parenthesis is wasmatrix ÷ baseline. A target comes from the issue that set it; its
✓/✗ mark is information, never an assertion, and nothing here fails a build. Each section
records the load average at its start and end: above the core count, figures are noisy, and
rates and tails suffer first.`;

/** Rewrites the doc with `results` in place of their old sections. */
export function writeDoc(
  all: readonly Suite[],
  results: ReadonlyMap<string, { result: SuiteResult; context: RunContext }>,
): void {
  const previous = existsSync(DOC_PATH) ? readFileSync(DOC_PATH, "utf8") : "";
  const sections = all.map((suite) => {
    const fresh = results.get(suite.name);
    if (fresh !== undefined) return section(suite, fresh.result, fresh.context);
    const from = previous.indexOf(begin(suite.name));
    const to = previous.indexOf(end(suite.name));
    if (from >= 0 && to > from) return previous.slice(from, to + end(suite.name).length);
    return [
      begin(suite.name),
      `## ${suite.title}`,
      "",
      suite.summary,
      "",
      "Not run yet.",
      end(suite.name),
    ].join("\n");
  });
  writeFileSync(DOC_PATH, `${HEADER}\n\n${sections.join("\n\n")}\n`);
}

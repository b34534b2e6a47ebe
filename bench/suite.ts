import type { SuiteResult } from "./report.js";

export interface SuiteOptions {
  /** `--long`: the endurance runs go to 10^6 operations. */
  long: boolean;
  /** Progress lines, to stderr, so a long suite shows it is alive. */
  log(line: string): void;
}

export interface Suite {
  name: string;
  title: string;
  /** What the suite measures, for the docs. */
  summary: string;
  run(options: SuiteOptions): Promise<SuiteResult>;
}

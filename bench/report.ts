/**
 * What a suite hands back, and how it is shown: every figure carries the baselines measured
 * beside it in the same run and, where an issue set one, its target with a ✓/✗ mark. Marks are
 * information for the reader; nothing here fails a run.
 */

export type Unit = "µs" | "ms" | "ops/s" | "KiB" | "MiB" | "×" | "count";

export interface Baseline {
  label: string;
  value: number;
  /** Defaults to the figure's unit. */
  unit?: Unit;
}

export interface Target {
  text: string;
  met: boolean;
}

export interface Figure {
  name: string;
  /** The median, unless the name says otherwise. */
  value: number;
  unit: Unit;
  p99?: number;
  baselines: Baseline[];
  target?: Target;
  note?: string;
  /** Whether "wasmatrix ÷ baseline" means anything (not for differences, which can be 0 or negative). Default true. */
  ratios?: boolean;
}

export interface SuiteResult {
  name: string;
  title: string;
  figures: Figure[];
  /** Free-form lines: what was measured how, and anything odd seen while measuring. */
  notes: string[];
  elapsedMs: number;
}

export const targets = {
  atMost: (value: number, limit: number, unit: Unit): Target => ({
    text: `≤ ${format(limit, unit)}`,
    met: value <= limit,
  }),
  atLeast: (value: number, limit: number, unit: Unit): Target => ({
    text: `≥ ${format(limit, unit)}`,
    met: value >= limit,
  }),
  /** `value ≤ factor × baseline`, for figures whose target is relative to a baseline. */
  ratioAtMost: (value: number, baseline: Baseline, factor: number): Target => ({
    text: `≤ ${factor}× ${baseline.label}`,
    met: value <= factor * baseline.value,
  }),
};

const grouped = (value: number, digits: number) =>
  value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** Enough digits to compare figures, never false precision. */
export function format(value: number, unit: Unit): string {
  if (!Number.isFinite(value)) return "n/a";
  switch (unit) {
    case "ops/s":
      return `${grouped(Math.round(value), 0)}/s`;
    case "count":
      return grouped(Math.round(value), 0);
    case "×":
      return `${value.toFixed(2)}×`;
    default: {
      const magnitude = Math.abs(value);
      const digits = magnitude < 1 ? 3 : magnitude < 10 ? 2 : magnitude < 100 ? 1 : 0;
      return `${grouped(value, digits)} ${unit}`;
    }
  }
}

/** Two decimals, or two significant digits when that would show nothing. */
const ratioText = (r: number) => `${Math.abs(r) >= 0.1 ? r.toFixed(2) : r.toPrecision(2)}×`;

function baselineText(figure: Figure, baseline: Baseline): string {
  const unit = baseline.unit ?? figure.unit;
  const ratio =
    figure.ratios !== false && unit === figure.unit && baseline.value !== 0
      ? ` (${ratioText(figure.value / baseline.value)})`
      : "";
  return `${baseline.label} ${format(baseline.value, unit)}${ratio}`;
}

const mark = (target: Target | undefined) => (target === undefined ? "" : target.met ? "✓" : "✗");

export interface Row {
  figure: string;
  value: string;
  p99: string;
  baselines: string;
  target: string;
}

export function rows(figures: readonly Figure[]): Row[] {
  return figures.map((f) => ({
    figure: f.name,
    value: format(f.value, f.unit),
    p99: f.p99 === undefined ? "" : format(f.p99, f.unit),
    baselines: f.baselines.map((b) => baselineText(f, b)).join("; "),
    target: f.target === undefined ? "" : `${f.target.text} ${mark(f.target)}`,
  }));
}

const HEADERS: Row = {
  figure: "figure",
  value: "wasmatrix",
  p99: "p99",
  baselines: "baselines, same run (wasmatrix ÷ baseline)",
  target: "target",
};
const COLUMNS = Object.keys(HEADERS) as (keyof Row)[];

/** A plain-text table for the terminal. */
export function textTable(result: SuiteResult): string {
  const all = [HEADERS, ...rows(result.figures)];
  const widths = COLUMNS.map((c) => Math.max(...all.map((r) => [...r[c]].length)));
  const line = (r: Row) =>
    COLUMNS.map((c, i) => r[c] + " ".repeat(widths[i]! - [...r[c]].length))
      .join("  ")
      .trimEnd();
  const out = [`== ${result.title} (${(result.elapsedMs / 1000).toFixed(1)} s)`, line(all[0]!)];
  out.push(widths.map((w) => "-".repeat(w)).join("  "));
  for (const r of all.slice(1)) out.push(line(r));
  for (const f of result.figures) if (f.note !== undefined) out.push(`  · ${f.name}: ${f.note}`);
  for (const n of result.notes) out.push(`  · ${n}`);
  return out.join("\n");
}

const cell = (text: string) => text.replaceAll("|", "\\|");

/** The same table as Markdown, notes below it; columns padded as Biome formats Markdown tables. */
export function markdownTable(result: SuiteResult): string {
  const table = [HEADERS, ...rows(result.figures)].map((r) => COLUMNS.map((c) => cell(r[c])));
  const widths = COLUMNS.map((_, i) => Math.max(3, ...table.map((r) => [...r[i]!].length)));
  const line = (cells: string[]) =>
    `| ${cells.map((text, i) => text + " ".repeat(widths[i]! - [...text].length)).join(" | ")} |`;
  const out = [line(table[0]!), line(widths.map((w) => "-".repeat(w))), ...table.slice(1).map(line)];
  const notes = [
    ...result.figures.filter((f) => f.note !== undefined).map((f) => `**${f.name}**: ${f.note}`),
    ...result.notes,
  ];
  if (notes.length > 0) out.push("", ...notes.map((n) => `- ${n}`));
  return out.join("\n");
}

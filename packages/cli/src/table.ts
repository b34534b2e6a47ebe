/**
 * Aligned plain-text tables, as `docker ps` and `kubectl get` print them: a header row, columns
 * separated by two spaces, no borders, no trailing spaces. Widths count code points, which is
 * right for the ids, digests and ASCII text these tables hold.
 */

export type Align = "left" | "right";

export interface Column {
  readonly header: string;
  /** @default "left" */
  readonly align?: Align;
}

/** Spaces between columns. */
export const COLUMN_GAP = 2;

/** What an empty cell shows, so that columns stay readable and `awk` still counts fields. */
export const EMPTY_CELL = "-";

function width(text: string): number {
  return [...text].length;
}

function pad(text: string, to: number, align: Align): string {
  const fill = " ".repeat(Math.max(0, to - width(text)));
  return align === "right" ? fill + text : text + fill;
}

/** One cell's text: newlines and tabs would break the alignment, so they become spaces. */
export function cell(value: string | number | null | undefined): string {
  if (value === null || value === undefined) return EMPTY_CELL;
  const text = String(value).replace(/[\t\r\n]+/g, " ");
  return text === "" ? EMPTY_CELL : text;
}

/** Renders the rows under the columns' headers; each line ends with "\n". */
export function formatTable(
  columns: readonly (string | Column)[],
  rows: readonly (readonly (string | number | null | undefined)[])[],
): string {
  const cols: Column[] = columns.map((c) => (typeof c === "string" ? { header: c } : c));
  const body = rows.map((row) => cols.map((_, i) => cell(row[i])));
  const widths = cols.map((c, i) => Math.max(width(c.header), ...body.map((row) => width(row[i]!))));
  const line = (cells: readonly string[]) =>
    cells
      .map((text, i) =>
        i === cells.length - 1 && cols[i]!.align !== "right"
          ? text
          : pad(text, widths[i]!, cols[i]!.align ?? "left"),
      )
      .join(" ".repeat(COLUMN_GAP))
      .trimEnd();
  return [cols.map((c) => c.header), ...body].map((cells) => `${line(cells)}\n`).join("");
}

/** `KEY   value` lines with the values aligned, for `inspect` and `info`. */
export function formatPairs(
  pairs: readonly (readonly [string, string | number | null | undefined])[],
): string {
  const keyWidth = Math.max(0, ...pairs.map(([key]) => width(key)));
  return pairs
    .map(([key, value]) => `${pad(key, keyWidth, "left")}${" ".repeat(COLUMN_GAP)}${cell(value)}`.trimEnd())
    .map((line) => `${line}\n`)
    .join("");
}

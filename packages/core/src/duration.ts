import { invalid, truncate } from "./validation.js";

/**
 * Durations as people write them in flags and policy strings: `100ms`, `30s`, `1.5s`, `2m`,
 * `1h`; a bare number is milliseconds. The same units as the CLI's `--timeout`.
 */

const UNIT_MS: Readonly<Record<string, number>> = {
  "": 1,
  ms: 1,
  s: 1000,
  m: 60_000,
  min: 60_000,
  h: 3_600_000,
};

const DURATION = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i;

/** Parses a duration into whole milliseconds (rounded); throws INVALID_REQUEST. */
export function parseDurationMs(text: string, what = "a duration"): number {
  const match = typeof text === "string" ? DURATION.exec(text) : null;
  const factor = match ? UNIT_MS[match[2]!.toLowerCase()] : undefined;
  if (!match || factor === undefined) {
    throw invalid(
      `cannot read ${what} '${truncate(String(text), 64)}'; write it like 100ms, 30s, 1.5s or 2m`,
      {
        input: truncate(String(text), 64),
      },
    );
  }
  const ms = Math.round(Number(match[1]) * factor);
  if (!Number.isSafeInteger(ms))
    throw invalid(`${what} '${truncate(text, 64)}' is too large`, { input: text });
  return ms;
}

/** The shortest exact form: 30000 → `30s`, 90000 → `90s`, 120000 → `2m`, 1500 → `1500ms`. */
export function formatDurationMs(ms: number): string {
  if (ms > 0 && Number.isSafeInteger(ms)) {
    if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
    if (ms % 60_000 === 0) return `${ms / 60_000}m`;
    if (ms % 1000 === 0) return `${ms / 1000}s`;
  }
  return `${ms}ms`;
}

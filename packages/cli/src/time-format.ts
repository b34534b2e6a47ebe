/** Times and sizes as the CLI prints them. Pure: the clock is a parameter. */

const SECOND_MS = 1_000;
const MINUTE_MS = 60 * SECOND_MS;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;

/**
 * An age as `kubectl get` shows it: precise while it is short, coarse once it is long.
 * 42s, 3m20s, 25m, 2h5m, 14h, 3d4h, 12d. Negative ages (clock skew) read as 0s.
 */
export function formatAge(ms: number): string {
  const age = Math.max(0, Math.floor(ms));
  if (age < MINUTE_MS) return `${Math.floor(age / SECOND_MS)}s`;
  if (age < 10 * MINUTE_MS) {
    const seconds = Math.floor((age % MINUTE_MS) / SECOND_MS);
    return `${Math.floor(age / MINUTE_MS)}m${seconds === 0 ? "" : `${seconds}s`}`;
  }
  if (age < HOUR_MS) return `${Math.floor(age / MINUTE_MS)}m`;
  if (age < 10 * HOUR_MS) {
    const minutes = Math.floor((age % HOUR_MS) / MINUTE_MS);
    return `${Math.floor(age / HOUR_MS)}h${minutes === 0 ? "" : `${minutes}m`}`;
  }
  if (age < DAY_MS) return `${Math.floor(age / HOUR_MS)}h`;
  if (age < 10 * DAY_MS) {
    const hours = Math.floor((age % DAY_MS) / HOUR_MS);
    return `${Math.floor(age / DAY_MS)}d${hours === 0 ? "" : `${hours}h`}`;
  }
  return `${Math.floor(age / DAY_MS)}d`;
}

/** `3m20s ago`; a zero timestamp (the protocol's "unset") reads `never`. */
export function formatAgo(atMs: number, nowMs: number): string {
  return atMs > 0 ? `${formatAge(nowMs - atMs)} ago` : "never";
}

/** An absolute time in UTC, to the millisecond: `2025-11-25T14:56:03.123Z`. Zero reads `-`. */
export function formatTimestamp(atMs: number): string {
  return atMs > 0 ? new Date(atMs).toISOString() : "-";
}

/** A measured duration: `0.4ms`, `12ms`, `1.5s`, `2m30s`. */
export function formatElapsed(ms: number): string {
  if (ms < 10) return `${Number(ms.toFixed(1))}ms`;
  if (ms < SECOND_MS) return `${Math.round(ms)}ms`;
  if (ms < MINUTE_MS) return `${Number((ms / SECOND_MS).toFixed(1))}s`;
  return formatAge(ms);
}

const BINARY_UNITS = ["B", "KiB", "MiB", "GiB", "TiB"] as const;

/** Bytes in binary units, exact when they divide evenly: `256MiB`, `1.5KiB`, `100B`. */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < BINARY_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${Number(value.toFixed(value >= 100 || Number.isInteger(value) ? 0 : 1))}${BINARY_UNITS[unit]}`;
}

import { ErrorCode, parseDurationMs, WasmatrixError } from "@wasmatrix/core";

const BYTE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1000,
  kb: 1000,
  kib: 1024,
  m: 1000 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1000 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
};

function parseWithUnit(what: string, input: string, units: Record<string, number>, example: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(input);
  const factor = match ? units[match[2]!.toLowerCase()] : undefined;
  if (!match || factor === undefined) {
    throw new WasmatrixError(
      ErrorCode.INVALID_REQUEST,
      `cannot read ${what} '${input}'; write it like ${example}`,
      {
        input,
      },
    );
  }
  return Math.round(Number(match[1]) * factor);
}

/** `64MiB`, `512k`, `1048576` → bytes. */
export function parseBytes(input: string): number {
  return parseWithUnit("a size", input, BYTE_UNITS, "64MiB, 512KiB or 1048576");
}

/** `2s`, `500ms`, `1m` → milliseconds. A bare number is milliseconds (the core's grammar). */
export function parseDuration(input: string): number {
  return parseDurationMs(input);
}

/** A whole number, with `_` or `,` allowed as separators (`10_000_000`). */
export function parseCount(input: string): number {
  const value = Number(input.replace(/[_,]/g, ""));
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new WasmatrixError(ErrorCode.INVALID_REQUEST, `'${input}' is not a positive whole number`, {
      input,
    });
  }
  return value;
}

/** `K=V` pairs into a record; a pair without `=` is refused. */
export function parseEnvPairs(pairs: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    if (eq <= 0) {
      throw new WasmatrixError(
        ErrorCode.INVALID_REQUEST,
        `environment entry '${pair}' must look like KEY=VALUE`,
        {
          input: pair,
        },
      );
    }
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return env;
}

import {
  type CapabilityAssignment,
  type CapabilityKind,
  InstanceId,
  parseAssignment,
  parseCapabilityKind,
  parseRestartPolicy,
  type RestartPolicy,
  WasmatrixError,
} from "@wasmatrix/core";
import { InvalidArgumentError } from "commander";
import { parseBytes, parseCount, parseDuration } from "./units.js";

/**
 * Option parsers for commander's `argParser`. Each turns a bad value into commander's
 * InvalidArgumentError, so every usage mistake is reported the same way (with the option's name)
 * and exits with the usage code before anything is sent to a server.
 */

/** Wraps a parser that throws WasmatrixError (or anything) into one commander reports as a usage error. */
export function usage<T>(parse: (text: string) => T): (text: string) => T {
  return (text) => {
    try {
      return parse(text);
    } catch (error) {
      throw new InvalidArgumentError(WasmatrixError.from(error).message);
    }
  };
}

/** For a repeatable option: each occurrence parsed, then appended. */
export function repeatable<T>(parse: (text: string) => T): (text: string, previous: T[] | undefined) => T[] {
  const checked = usage(parse);
  return (text, previous) => [...(previous ?? []), checked(text)];
}

const PAIR_KEY = /^[A-Za-z0-9_.\-/]+$/;

/** `key=value` (the value may hold '=' and be empty; the key may not be empty). */
export function parsePair(text: string, what = "a label"): [string, string] {
  const eq = text.indexOf("=");
  const key = eq < 0 ? text : text.slice(0, eq);
  if (eq <= 0 || !PAIR_KEY.test(key)) {
    throw new InvalidArgumentError(
      `${what} must look like key=value (key of letters, digits, '_', '.', '-', '/'); got '${text}'`,
    );
  }
  return [key, text.slice(eq + 1)];
}

/** `KEY=VALUE` for a guest's environment: any key without '=' or NUL. */
export function parseEnvPair(text: string): [string, string] {
  const eq = text.indexOf("=");
  if (eq <= 0 || text.includes("\0")) {
    throw new InvalidArgumentError(`an environment entry must look like KEY=VALUE; got '${text}'`);
  }
  return [text.slice(0, eq), text.slice(eq + 1)];
}

/** `k=v,k2=v2` (as `--labels` takes them) into a record; a later key wins. */
export function parseLabelList(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const part of text.split(",")) {
    if (part.trim() === "") continue;
    const [key, value] = parsePair(part.trim());
    labels[key] = value;
  }
  return labels;
}

/** Repeated pairs into a record; a later key wins, as with `docker run -e`. */
export function pairsToRecord(
  pairs: readonly (readonly [string, string])[] | undefined,
): Record<string, string> {
  return Object.fromEntries(pairs ?? []);
}

export const parseInstanceId: (text: string) => string = usage((text) => InstanceId.parse(text));
export const parseCapSpec: (text: string) => CapabilityAssignment = usage(parseAssignment);
export const parseCapability: (text: string) => CapabilityKind = usage(parseCapabilityKind);
export const parseRestart: (text: string) => RestartPolicy = usage(parseRestartPolicy);
export const parseSize: (text: string) => number = usage(parseBytes);
export const parseMs: (text: string) => number = usage(parseDuration);
export const parsePositive: (text: string) => number = usage(parseCount);

/** A whole number ≥ 0 (sequence numbers, where 0 means "from the start"). */
export const parseNonNegative: (text: string) => number = usage((text) => {
  const value = Number(text);
  if (text.trim() === "" || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidArgumentError(`'${text}' is not a whole number ≥ 0`);
  }
  return value;
});

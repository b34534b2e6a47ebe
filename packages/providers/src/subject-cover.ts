import { subjectCovers } from "@wasmatrix/core";

// A stream's subjects may not overlap one another, so the stream keeps a set of patterns that
// covers every subscription and in which no two patterns overlap.

/** Whether some concrete subject matches both patterns. */
export function subjectsOverlap(a: string, b: string): boolean {
  const x = a.split(".");
  const y = b.split(".");
  for (let i = 0; ; i++) {
    const s = x[i];
    const t = y[i];
    if (s === undefined || t === undefined) return s === t;
    if (s === ">") return true;
    if (t === ">") return true;
    if (s !== "*" && t !== "*" && s !== t) return false;
  }
}

/** The narrowest token-wise pattern covering two overlapping patterns. */
function generalize(a: string, b: string): string {
  const x = a.split(".");
  const y = b.split(".");
  const out: string[] = [];
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const s = x[i];
    const t = y[i];
    if (s === ">" || t === ">" || s === undefined || t === undefined) {
      out.push(">");
      break;
    }
    out.push(s === t ? s : "*");
  }
  return out.join(".");
}

/**
 * Adds `wanted` to a set of non-overlapping patterns: unchanged when one already covers it,
 * else `wanted` merged with every pattern it overlaps, widened token by token (`a.*.c` and
 * `a.b.*` become `a.*.*`). Widening costs nothing but storage of messages that match a widened
 * pattern and no consumer: the stream keeps messages only while a consumer is interested.
 */
export function coverSubjects(existing: readonly string[], wanted: string): string[] {
  if (existing.some((s) => subjectCovers(s, wanted))) return [...existing];
  let rest = [...existing];
  let add = wanted;
  for (;;) {
    const overlapping = rest.filter((s) => subjectsOverlap(s, add));
    if (overlapping.length === 0) return [...rest, add];
    rest = rest.filter((s) => !overlapping.includes(s));
    for (const s of overlapping) add = generalize(add, s);
  }
}

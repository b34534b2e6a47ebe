/**
 * Cutting and cleaning text that came from outside (a request, a guest, a file) before it is
 * shown in an error or sent as a gRPC status. Whatever is cut here must stay well-formed UTF-16:
 * a lone surrogate cannot be encoded as UTF-8, and grpc-js throws a URIError — outside any
 * handler, ending the process — when a status message holds one.
 */

/**
 * At most `max` code points of `text`, and `…` when something was cut. Counting code points
 * rather than UTF-16 units never splits a surrogate pair; a string that was well-formed stays so.
 */
export function truncate(text: string, max: number): string {
  // A string no longer than `max` units has at most `max` code points: nothing to cut.
  if (text.length <= max) return text;
  let kept = 0;
  let end = 0;
  for (const point of text) {
    if (kept === max) return `${text.slice(0, end)}…`;
    kept += 1;
    end += point.length;
  }
  return text;
}

// With the `u` flag a pair is one code point, so only lone surrogates match (what ES2024's
// String.prototype.toWellFormed does; the tsconfig targets ES2023's library).
const LONE_SURROGATE = /\p{Surrogate}/gu;

/** `text` with every lone surrogate replaced by U+FFFD, so that it can be encoded as UTF-8. */
export function wellFormed(text: string): string {
  return text.replace(LONE_SURROGATE, "\uFFFD");
}

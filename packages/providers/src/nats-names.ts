import { createHash } from "node:crypto";

/** Readable characters kept from the source text; the hash, not this part, makes a name unique. */
const READABLE_CHARS = 24;
/** 160 bits of SHA-256 in hex: lowercase, so names stay distinct on case-insensitive disks too. */
const HASH_HEX_CHARS = 40;

/**
 * A NATS-safe name (bucket, stream or consumer: `[A-Za-z0-9_-]` only) for arbitrary text:
 * `<prefix>_<readable part>_<hash>`. Two texts get the same name only if SHA-256 collides in
 * its first 160 bits; the readable part is there for people listing streams.
 */
export function natsName(prefix: string, text: string): string {
  const readable = text
    .replace(/[^A-Za-z0-9-]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, READABLE_CHARS);
  const hash = createHash("sha256").update(text).digest("hex").slice(0, HASH_HEX_CHARS);
  return readable === "" ? `${prefix}_${hash}` : `${prefix}_${readable}_${hash}`;
}

/**
 * OCI references as docker, wash and spin write them: `host[:port]/repo/path[:tag][@sha256:hex]`,
 * optionally behind `oci://`. The registry host is always explicit: wasmatrix has no default
 * registry to guess at, so `repo:tag` alone is refused rather than sent to someone's Docker Hub.
 */
import { ErrorCode, WasmatrixError } from "@wasmatrix/core";

export interface Reference {
  /** `host` or `host:port`, as written (lower-cased). */
  registry: string;
  /** The repository path, e.g. `team/echo`. */
  repository: string;
  /** The tag; `latest` when neither tag nor digest was written. */
  tag?: string;
  /** `sha256:<64 hex>` when the reference pins a digest. */
  digest?: string;
}

export const OCI_SCHEME = "oci://";
const REPOSITORY = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const REGISTRY =
  /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?$/;

function invalid(reference: string, why: string): WasmatrixError {
  return new WasmatrixError(
    ErrorCode.INVALID_REQUEST,
    `invalid OCI reference '${reference}': ${why} (expected host[:port]/repository[:tag][@sha256:…], e.g. 127.0.0.1:5000/team/echo:1.0)`,
    { field: "reference", reference },
  );
}

/** True when `text` names an OCI artifact (`oci://…`) rather than a file. */
export function isOciReference(text: string): boolean {
  return text.startsWith(OCI_SCHEME);
}

export function parseReference(text: string): Reference {
  const body = isOciReference(text) ? text.slice(OCI_SCHEME.length) : text;
  const slash = body.indexOf("/");
  if (slash <= 0) throw invalid(text, "no registry host before the repository");
  const registry = body.slice(0, slash).toLowerCase();
  if (!REGISTRY.test(registry)) throw invalid(text, `'${registry}' is not a registry host`);
  let rest = body.slice(slash + 1);
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw invalid(text, `'${digest}' is not a sha256 digest`);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon !== -1) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw invalid(text, `'${tag}' is not a tag`);
  }
  if (!REPOSITORY.test(rest) || rest.length > 255) throw invalid(text, `'${rest}' is not a repository name`);
  if (tag === undefined && digest === undefined) tag = "latest";
  return { registry, repository: rest, ...(tag !== undefined ? { tag } : {}), ...(digest ? { digest } : {}) };
}

export function formatReference(ref: Reference): string {
  return `${ref.registry}/${ref.repository}${ref.tag !== undefined ? `:${ref.tag}` : ""}${ref.digest ? `@${ref.digest}` : ""}`;
}

/** What the registry API is asked for: the digest when pinned (it is the stronger promise), else the tag. */
export function manifestKey(ref: Reference): string {
  return ref.digest ?? ref.tag ?? "latest";
}

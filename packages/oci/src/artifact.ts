/**
 * The Wasm artifact layout wasmCloud (wasm-pkg-tools' oci-wasm) and Spin read: an OCI image
 * manifest whose config has media type `application/vnd.wasm.config.v0+json` and whose single
 * layer is the module, `application/wasm`. A module's detached signature travels as an annotation
 * of the manifest, so a pull hands back exactly what `wasmatrix sign` wrote.
 */
import { createHash } from "node:crypto";

export const MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json";
export const WASM_CONFIG_MEDIA_TYPE = "application/vnd.wasm.config.v0+json";
export const WASM_LAYER_MEDIA_TYPE = "application/wasm";
/** Base64 of the module's `.sig` file, when it was pushed with one. */
export const SIGNATURE_ANNOTATION = "dev.wasmatrix.module.signature";
export const CREATED_ANNOTATION = "org.opencontainers.image.created";

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

export interface Artifact {
  config: Uint8Array;
  manifest: Uint8Array;
  manifestDigest: string;
  layerDigest: string;
}

/** The config and manifest for one module; `created` is passed in so the same inputs give the same digests. */
export function buildArtifact(
  module: Uint8Array,
  options: { created: string; signature?: Uint8Array },
): Artifact {
  const layerDigest = sha256Digest(module);
  const config = new TextEncoder().encode(
    JSON.stringify({
      created: options.created,
      architecture: "wasm",
      os: "wasip1",
      layerDigests: [layerDigest],
    }),
  );
  const annotations: Record<string, string> = { [CREATED_ANNOTATION]: options.created };
  if (options.signature)
    annotations[SIGNATURE_ANNOTATION] = Buffer.from(options.signature).toString("base64");
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MANIFEST_MEDIA_TYPE,
    config: { mediaType: WASM_CONFIG_MEDIA_TYPE, digest: sha256Digest(config), size: config.length },
    layers: [{ mediaType: WASM_LAYER_MEDIA_TYPE, digest: layerDigest, size: module.length }],
    annotations,
  };
  const manifestBytes = new TextEncoder().encode(JSON.stringify(manifest));
  return { config, manifest: manifestBytes, manifestDigest: sha256Digest(manifestBytes), layerDigest };
}

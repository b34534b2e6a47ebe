/**
 * A client of the OCI distribution API (v2) over undici: enough to push a module as a Wasm
 * artifact and pull it back, verified by digest at every step. Loopback registries are spoken to
 * over plain HTTP, as docker does; every other one over HTTPS.
 */
import { ErrorCode, isLoopbackHost, splitHostPort, WasmatrixError } from "@wasmatrix/core";
import { type Dispatcher, request } from "undici";
import {
  buildArtifact,
  type ImageManifest,
  MANIFEST_MEDIA_TYPE,
  SIGNATURE_ANNOTATION,
  sha256Digest,
  WASM_CONFIG_MEDIA_TYPE,
  WASM_LAYER_MEDIA_TYPE,
} from "./artifact.js";
import { type Credentials, dockerConfigCredentials } from "./credentials.js";
import { formatReference, manifestKey, type Reference } from "./reference.js";

/** Manifests are a few hundred bytes; anything near this is not one of ours. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const DEFAULT_MAX_MODULE_BYTES = 64 * 1024 * 1024;
const MAX_REDIRECTS = 3;
const ACCEPT_MANIFEST = `${MANIFEST_MEDIA_TYPE}, application/vnd.docker.distribution.manifest.v2+json`;

export interface RegistryClientOptions {
  /** Credentials for every registry; else each registry's entry in docker's config file. */
  credentials?: Credentials;
  /** Largest module a pull accepts (default 64 MiB). */
  maxModuleBytes?: number;
  /** Passed to undici, e.g. an Agent with TLS options. */
  dispatcher?: Dispatcher;
}

export interface PushResult {
  /** The reference pinned to the pushed manifest's digest. */
  pinned: string;
  manifestDigest: string;
  layerDigest: string;
  size: number;
}

export interface PulledModule {
  bytes: Uint8Array;
  manifestDigest: string;
  layerDigest: string;
  /** The detached signature pushed with the module, if any. */
  signature?: Uint8Array;
  /** The reference pinned to the manifest's digest. */
  pinned: string;
}

interface Response {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Uint8Array;
}

function header(res: Response, name: string): string | undefined {
  const value = res.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function registryError(code: ErrorCode, message: string, details: Record<string, unknown>): WasmatrixError {
  return new WasmatrixError(code, message, details);
}

export class RegistryClient {
  /** Bearer tokens by registry and scope, from the registry's token service. */
  private readonly tokens = new Map<string, string>();
  private readonly maxModuleBytes: number;

  constructor(private readonly options: RegistryClientOptions = {}) {
    this.maxModuleBytes = options.maxModuleBytes ?? DEFAULT_MAX_MODULE_BYTES;
  }

  async push(
    ref: Reference,
    module: Uint8Array,
    options: { signature?: Uint8Array; created?: string } = {},
  ): Promise<PushResult> {
    if (ref.tag === undefined) {
      throw registryError(ErrorCode.INVALID_REQUEST, `push needs a tag: ${formatReference(ref)}`, {
        field: "reference",
      });
    }
    const artifact = buildArtifact(module, {
      created: options.created ?? new Date().toISOString(),
      ...(options.signature ? { signature: options.signature } : {}),
    });
    await Promise.all([
      this.uploadBlob(ref, module, artifact.layerDigest),
      this.uploadBlob(ref, artifact.config, sha256Digest(artifact.config)),
    ]);
    const res = await this.send(ref, "PUT", `/manifests/${ref.tag}`, {
      headers: { "content-type": MANIFEST_MEDIA_TYPE },
      body: artifact.manifest,
    });
    this.expect(res, [201], ref, "storing the manifest");
    const pinned = formatReference({
      registry: ref.registry,
      repository: ref.repository,
      digest: artifact.manifestDigest,
    });
    return {
      pinned,
      manifestDigest: artifact.manifestDigest,
      layerDigest: artifact.layerDigest,
      size: module.length,
    };
  }

  /** Resolves a reference to its manifest digest without downloading the module. */
  async resolve(ref: Reference): Promise<string> {
    return (await this.manifest(ref)).digest;
  }

  async pull(ref: Reference): Promise<PulledModule> {
    const { manifest, digest } = await this.manifest(ref);
    if (manifest.config?.mediaType !== WASM_CONFIG_MEDIA_TYPE) {
      throw registryError(
        ErrorCode.INVALID_MODULE,
        `${formatReference(ref)} is not a Wasm artifact (config media type ${String(manifest.config?.mediaType)})`,
        { reference: formatReference(ref), reason: "not_wasm_artifact" },
      );
    }
    const layers = (manifest.layers ?? []).filter((layer) => layer.mediaType === WASM_LAYER_MEDIA_TYPE);
    if (layers.length !== 1) {
      throw registryError(
        ErrorCode.INVALID_MODULE,
        `${formatReference(ref)} has ${layers.length} application/wasm layers; a module artifact has exactly one`,
        { reference: formatReference(ref), reason: "layers" },
      );
    }
    const layer = layers[0]!;
    if (layer.size > this.maxModuleBytes) {
      throw registryError(
        ErrorCode.MODULE_TOO_LARGE,
        `${formatReference(ref)}'s module is ${layer.size} bytes; the limit is ${this.maxModuleBytes}`,
        { size: layer.size, limit: this.maxModuleBytes },
      );
    }
    const res = await this.send(ref, "GET", `/blobs/${layer.digest}`, { limit: this.maxModuleBytes });
    this.expect(res, [200], ref, `fetching blob ${layer.digest}`);
    verifyDigest(res.body, layer.digest, ref, "module");
    const signature = manifest.annotations?.[SIGNATURE_ANNOTATION];
    return {
      bytes: res.body,
      manifestDigest: digest,
      layerDigest: layer.digest,
      ...(signature ? { signature: new Uint8Array(Buffer.from(signature, "base64")) } : {}),
      pinned: formatReference({ registry: ref.registry, repository: ref.repository, digest }),
    };
  }

  private async manifest(ref: Reference): Promise<{ manifest: ImageManifest; digest: string }> {
    const res = await this.send(ref, "GET", `/manifests/${manifestKey(ref)}`, {
      headers: { accept: ACCEPT_MANIFEST },
      limit: MAX_MANIFEST_BYTES,
    });
    this.expect(res, [200], ref, "fetching the manifest");
    const digest = sha256Digest(res.body);
    if (ref.digest) verifyDigest(res.body, ref.digest, ref, "manifest");
    let manifest: ImageManifest;
    try {
      manifest = JSON.parse(new TextDecoder().decode(res.body)) as ImageManifest;
    } catch {
      throw registryError(ErrorCode.INVALID_MODULE, `${formatReference(ref)}'s manifest is not JSON`, {
        reference: formatReference(ref),
        reason: "manifest",
      });
    }
    return { manifest, digest };
  }

  private async uploadBlob(ref: Reference, bytes: Uint8Array, digest: string): Promise<void> {
    const head = await this.send(ref, "HEAD", `/blobs/${digest}`);
    if (head.status === 200) return;
    const start = await this.send(ref, "POST", "/blobs/uploads/");
    this.expect(start, [202], ref, "starting a blob upload");
    const location = header(start, "location");
    if (!location) {
      throw registryError(ErrorCode.INTERNAL, "the registry started an upload without a Location", {
        registry: ref.registry,
      });
    }
    const target = new URL(location, this.base(ref));
    target.searchParams.set("digest", digest);
    const put = await this.sendUrl(ref, "PUT", target, {
      headers: { "content-type": "application/octet-stream" },
      body: bytes,
    });
    this.expect(put, [201], ref, `uploading blob ${digest}`);
  }

  private base(ref: Reference): string {
    const { host } = splitHostPort(ref.registry);
    const scheme = isLoopbackHost(host.replace(/^\[|\]$/g, "")) ? "http" : "https";
    return `${scheme}://${ref.registry}`;
  }

  private send(
    ref: Reference,
    method: Dispatcher.HttpMethod,
    path: string,
    init: { headers?: Record<string, string>; body?: Uint8Array; limit?: number } = {},
  ): Promise<Response> {
    return this.sendUrl(ref, method, new URL(`/v2/${ref.repository}${path}`, this.base(ref)), init);
  }

  /** One request, authenticating once on a 401 and following a few redirects (blob storage). */
  private async sendUrl(
    ref: Reference,
    method: Dispatcher.HttpMethod,
    url: URL,
    init: { headers?: Record<string, string>; body?: Uint8Array; limit?: number },
  ): Promise<Response> {
    const scope = `repository:${ref.repository}:${method === "GET" || method === "HEAD" ? "pull" : "pull,push"}`;
    let target = url;
    let authenticated = false;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const sameHost = target.host === new URL(this.base(ref)).host;
      const auth = sameHost ? this.authorization(ref, scope) : undefined;
      const res = await this.raw(ref, method, target, {
        ...init,
        headers: { ...init.headers, ...(auth ? { authorization: auth } : {}) },
      });
      if (res.status === 401 && sameHost && !authenticated) {
        authenticated = true;
        await this.authenticate(ref, scope, header(res, "www-authenticate"));
        hop--;
        continue;
      }
      const location = header(res, "location");
      if ([301, 302, 303, 307, 308].includes(res.status) && location && method === "GET") {
        target = new URL(location, target);
        continue;
      }
      return res;
    }
    throw registryError(ErrorCode.INTERNAL, `too many redirects from ${ref.registry}`, {
      registry: ref.registry,
    });
  }

  private async raw(
    ref: Reference,
    method: Dispatcher.HttpMethod,
    url: URL,
    init: { headers?: Record<string, string>; body?: Uint8Array; limit?: number },
  ): Promise<Response> {
    let res: Dispatcher.ResponseData;
    try {
      res = await request(url, {
        method,
        headers: init.headers ?? {},
        ...(init.body ? { body: init.body } : {}),
        ...(this.options.dispatcher ? { dispatcher: this.options.dispatcher } : {}),
      });
    } catch (error) {
      throw new WasmatrixError(
        ErrorCode.REGISTRY_UNAVAILABLE,
        `cannot reach the registry ${ref.registry}: ${(error as Error).message}`,
        { registry: ref.registry },
        { cause: error },
      );
    }
    const limit = init.limit ?? MAX_MANIFEST_BYTES;
    const chunks: Buffer[] = [];
    let size = 0;
    // A registry that dies mid-answer is unavailable, like one that never answered.
    const body = (async function* () {
      try {
        yield* res.body;
      } catch (error) {
        throw new WasmatrixError(
          ErrorCode.REGISTRY_UNAVAILABLE,
          `the registry ${ref.registry} broke off its answer: ${(error as Error).message}`,
          { registry: ref.registry },
          { cause: error },
        );
      }
    })();
    for await (const chunk of body) {
      size += (chunk as Buffer).length;
      if (size > limit) {
        res.body.destroy();
        throw registryError(
          ErrorCode.RESOURCE_EXHAUSTED,
          `the registry's answer to ${method} ${url.pathname} is larger than ${limit} bytes`,
          { registry: ref.registry, limit },
        );
      }
      chunks.push(chunk as Buffer);
    }
    return { status: res.statusCode, headers: res.headers, body: new Uint8Array(Buffer.concat(chunks)) };
  }

  private credentials(ref: Reference): Credentials | undefined {
    return this.options.credentials ?? dockerConfigCredentials(ref.registry);
  }

  private authorization(ref: Reference, scope: string): string | undefined {
    const token = this.tokens.get(`${ref.registry} ${scope}`);
    if (token) return token;
    return undefined;
  }

  /** Answers a 401's challenge: Basic with the credentials, or a Bearer token from the realm it names. */
  private async authenticate(ref: Reference, scope: string, challenge: string | undefined): Promise<void> {
    const credentials = this.credentials(ref);
    const basic = credentials
      ? `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString("base64")}`
      : undefined;
    const key = `${ref.registry} ${scope}`;
    if (challenge?.toLowerCase().startsWith("bearer")) {
      const params = Object.fromEntries(
        [...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!.toLowerCase(), m[2]!]),
      );
      if (!params.realm) throw unauthenticated(ref, "its Bearer challenge names no realm");
      const realm = new URL(params.realm);
      if (params.service) realm.searchParams.set("service", params.service);
      realm.searchParams.set("scope", params.scope ?? scope);
      const res = await request(realm, { headers: basic ? { authorization: basic } : {} });
      const body = (await res.body.json().catch(() => ({}))) as { token?: string; access_token?: string };
      const token = body.token ?? body.access_token;
      if (res.statusCode !== 200 || !token)
        throw unauthenticated(ref, `its token service answered ${res.statusCode}`);
      this.tokens.set(key, `Bearer ${token}`);
      return;
    }
    if (!basic) throw unauthenticated(ref, "it asks for credentials and none were given");
    this.tokens.set(key, basic);
  }

  private expect(res: Response, ok: number[], ref: Reference, what: string): void {
    if (ok.includes(res.status)) return;
    const text = new TextDecoder().decode(res.body.subarray(0, 512));
    if (res.status === 404) {
      throw registryError(ErrorCode.ARTIFACT_NOT_FOUND, `${formatReference(ref)} not found (${what})`, {
        reference: formatReference(ref),
      });
    }
    if (res.status === 401 || res.status === 403)
      throw unauthenticated(ref, `${what}: ${res.status} ${text}`);
    throw registryError(
      ErrorCode.REGISTRY_UNAVAILABLE,
      `${ref.registry} answered ${res.status} ${what}: ${text}`,
      {
        registry: ref.registry,
        status: res.status,
      },
    );
  }
}

function unauthenticated(ref: Reference, why: string): WasmatrixError {
  return new WasmatrixError(
    ErrorCode.UNAUTHENTICATED,
    `the registry ${ref.registry} refused us: ${why}. Pass --registry-auth USER:PASSWORD or log in with docker`,
    { registry: ref.registry },
  );
}

function verifyDigest(bytes: Uint8Array, expected: string, ref: Reference, what: string): void {
  const actual = sha256Digest(bytes);
  if (actual === expected) return;
  throw new WasmatrixError(
    ErrorCode.DIGEST_MISMATCH,
    `${formatReference(ref)}: the ${what} the registry sent has digest ${actual}, not ${expected}; refusing it`,
    { reference: formatReference(ref), expected, actual, what },
  );
}

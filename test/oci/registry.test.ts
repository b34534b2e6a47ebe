import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { rejection } from "@wasmatrix/core/test-support/expect-code";
import { parseReference, RegistryClient, sha256Digest } from "@wasmatrix/oci";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Registry, startRegistry } from "../support/registry.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const ECHO = readFileSync(join(ROOT, "examples/build/echo_reactor.wasm"));
const HELLO = readFileSync(join(ROOT, "examples/build/hello.wasm"));

describe("modules as OCI artifacts in a real registry", () => {
  let registry: Registry;
  const client = new RegistryClient();
  beforeAll(async () => {
    registry = await startRegistry();
  }, 30_000);
  afterAll(async () => registry?.stop());

  const ref = (path: string) => parseReference(`${registry.host}/${path}`);

  it("pulls back exactly the module it pushed, with its signature, by tag and by digest", async () => {
    const signature = new TextEncoder().encode('{"keyId":"k1","signature":"abc"}');
    const pushed = await client.push(ref("team/echo:1.0"), ECHO, { signature });
    expect(pushed.layerDigest).toBe(sha256Digest(ECHO));

    const byTag = await client.pull(ref("team/echo:1.0"));
    expect(Buffer.from(byTag.bytes).equals(ECHO)).toBe(true);
    expect(byTag.manifestDigest).toBe(pushed.manifestDigest);
    expect(new TextDecoder().decode(byTag.signature)).toBe('{"keyId":"k1","signature":"abc"}');

    const byDigest = await client.pull(parseReference(pushed.pinned));
    expect(Buffer.from(byDigest.bytes).equals(ECHO)).toBe(true);
  });

  it("stores the Wasm artifact layout other tools read: a wasm config and one application/wasm layer", async () => {
    await client.push(ref("layout/echo:1"), ECHO);
    const res = await fetch(`http://${registry.host}/v2/layout/echo/manifests/1`, {
      headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
    });
    const manifest = (await res.json()) as { config: { mediaType: string }; layers: { mediaType: string }[] };
    expect(manifest.config.mediaType).toBe("application/vnd.wasm.config.v0+json");
    expect(manifest.layers.map((l) => l.mediaType)).toEqual(["application/wasm"]);
  });

  it("gives a moved tag a new digest, while the old digest still pulls the old module", async () => {
    const first = await client.push(ref("moving/app:stable"), ECHO);
    const second = await client.push(ref("moving/app:stable"), HELLO);
    expect(second.manifestDigest).not.toBe(first.manifestDigest);
    expect(await client.resolve(ref("moving/app:stable"))).toBe(second.manifestDigest);
    const old = await client.pull(parseReference(first.pinned));
    expect(Buffer.from(old.bytes).equals(ECHO)).toBe(true);
  });

  it("refuses a pinned digest the tag does not have", async () => {
    await client.push(ref("pinned/app:1"), ECHO);
    const wrong = `sha256:${"0".repeat(64)}`;
    const error = await rejection(client.pull(ref(`pinned/app:1@${wrong}`)));
    expect(error.code).toBe("ARTIFACT_NOT_FOUND");
  });

  it("refuses a corrupted blob with DIGEST_MISMATCH, naming both digests", async () => {
    const pushed = await client.push(ref("corrupt/app:1"), ECHO);
    const path = registry.blobPath(pushed.layerDigest);
    const bytes = readFileSync(path);
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 0xff;
    writeFileSync(path, bytes);
    const error = await rejection(client.pull(ref("corrupt/app:1")));
    expect(error.code).toBe("DIGEST_MISMATCH");
    expect(error.details).toMatchObject({ expected: pushed.layerDigest, actual: sha256Digest(bytes) });
  });

  it("answers ARTIFACT_NOT_FOUND for an unknown tag and REGISTRY_UNAVAILABLE for a closed port", async () => {
    expect((await rejection(client.pull(ref("nobody/here:1")))).code).toBe("ARTIFACT_NOT_FOUND");
    expect((await rejection(client.pull(parseReference("127.0.0.1:1/x/y:1")))).code).toBe(
      "REGISTRY_UNAVAILABLE",
    );
  });
});

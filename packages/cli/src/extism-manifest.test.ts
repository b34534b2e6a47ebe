import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatPermission } from "@wasmatrix/core";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { allowedHostsAssignment, parseExtismManifest } from "./extism-manifest.js";

describe("Extism manifests", () => {
  let dir: string;
  const bytes = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "wasmatrix-manifest-"));
    await writeFile(join(dir, "plugin.wasm"), bytes);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const parse = (manifest: unknown) => parseExtismManifest(JSON.stringify(manifest), dir);

  it("reads the module from a path relative to the manifest, with config, hosts and limits", async () => {
    const hash = createHash("sha256").update(bytes).digest("hex");
    const m = await parse({
      wasm: [{ path: "plugin.wasm", hash }],
      config: { a: "1" },
      allowed_hosts: ["example.com", "*.example.org"],
      memory: { max_pages: 4, max_var_bytes: 100 },
      timeout_ms: 250,
    });
    expect(m.modulePath).toBe(join(dir, "plugin.wasm"));
    expect(m.module).toEqual(bytes);
    expect(m.config).toEqual({ a: "1" });
    expect(m.http?.permissions.map(formatPermission)).toEqual([
      "http:domain:example.com",
      "http:domain:*.example.org",
    ]);
    expect(m).toMatchObject({ maxMemoryBytes: 4 * 65_536, maxVarBytes: 100, timeoutMs: 250 });
  });

  it.each([
    [{ wasm: [] }, "exactly one module"],
    [{ wasm: [{ url: "https://example.com/p.wasm" }] }, "'path'"],
    [{ wasm: [{ path: "missing.wasm" }] }, "missing.wasm"],
    [{ wasm: [{ path: "plugin.wasm", hash: "00" }] }, "hash mismatch"],
    [{ wasm: [{ path: "plugin.wasm" }], config: { a: 1 } }, "config 'a' must be a string"],
    [{ wasm: [{ path: "plugin.wasm" }], memory: { max_pages: -1 } }, "memory.max_pages"],
    [{ wasm: [{ path: "plugin.wasm" }], allowed_paths: { "/tmp": "/tmp" } }, "allowed_paths"],
  ])("refuses %j, saying what is wrong", async (manifest, words) => {
    await expect(parse(manifest)).rejects.toMatchObject({
      code: "INVALID_REQUEST",
      message: expect.stringContaining(words),
    });
  });

  it("maps allowed_hosts to an http assignment that admits exactly the hosts listed", () => {
    const label = fc.stringMatching(/^[a-z][a-z0-9]{0,8}$/);
    const host = fc.tuple(label, label).map(([a, b]) => `${a}.${b}`);
    fc.assert(
      fc.property(fc.uniqueArray(host, { minLength: 1, maxLength: 5 }), fc.boolean(), (hosts, wildcard) => {
        const listed = wildcard ? hosts.map((h) => `*.${h}`) : hosts;
        const assignment = allowedHostsAssignment(listed)!;
        expect(assignment.capability).toBe("http");
        expect(assignment.permissions.map(formatPermission)).toEqual(listed.map((h) => `http:domain:${h}`));
      }),
    );
    expect(allowedHostsAssignment([])).toBeNull();
    expect(allowedHostsAssignment(["*"])!.permissions.map(formatPermission)).toEqual(["http:request"]);
  });
});

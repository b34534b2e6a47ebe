import { readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Registry, startRegistry } from "../support/registry.js";
import { ROOT, startUp, type Up } from "../support/up.js";

/** `wasmatrix push`, `pull` and `start oci://…` as a person runs them, against a real registry and `up`. */

const ECHO = join(ROOT, "examples/build/echo_reactor.wasm");

describe("modules shipped through a registry", () => {
  let registry: Registry;
  let up: Up;
  let dir: string;
  beforeAll(async () => {
    [registry, up, dir] = await Promise.all([
      startRegistry(),
      startUp(),
      mkdtemp(join(tmpdir(), "wasmatrix-oci-")),
    ]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([up?.stop(), registry?.stop(), dir && rm(dir, { recursive: true, force: true })]);
  });

  it("pushes a module, pulls the same bytes back, and starts it by tag on the server", async () => {
    const ref = `${registry.host}/team/echo:1.0`;
    const push = await up.run("push", ECHO, ref, "--json");
    expect(push.stderr).toBe("");
    const pushed = JSON.parse(push.stdout) as { pinned: string; layerDigest: string };
    expect(pushed.pinned).toMatch(/@sha256:[a-f0-9]{64}$/);

    const out = join(dir, "echo.wasm");
    const pull = await up.run("pull", `oci://${ref}`, "-o", out);
    expect(pull.code, pull.stderr).toBe(0);
    expect(readFileSync(out).equals(readFileSync(ECHO))).toBe(true);

    const start = await up.run("start", `oci://${ref}`, "--id", "from-registry", "--json");
    expect(start.code, start.stderr).toBe(0);
    expect(JSON.parse(start.stdout)).toMatchObject({ status: "running", moduleDigest: pushed.layerDigest });
    const invoke = await up.run("invoke", "from-registry", "upper", "--data", "shipped");
    expect(invoke.stdout).toBe("SHIPPED");
  });

  it("starts a module pinned by digest", async () => {
    const push = await up.run("push", ECHO, `${registry.host}/team/pinned:1`, "--json");
    const { pinned } = JSON.parse(push.stdout) as { pinned: string };
    const start = await up.run("start", `oci://${pinned}`, "--id", "pinned", "--json");
    expect(start.code, start.stderr).toBe(0);
  });

  it("refuses a corrupted blob with DIGEST_MISMATCH and starts nothing", async () => {
    const push = await up.run("push", ECHO, `${registry.host}/team/corrupt:1`, "--json");
    const { layerDigest } = JSON.parse(push.stdout) as { layerDigest: string };
    const path = registry.blobPath(layerDigest);
    const bytes = readFileSync(path);
    bytes[100] = (bytes[100] ?? 0) ^ 0xff;
    writeFileSync(path, bytes);
    const start = await up.run("start", `oci://${registry.host}/team/corrupt:1`, "--id", "corrupt");
    expect(start.code).toBe(1);
    expect(start.stderr).toMatch(/DIGEST_MISMATCH/);
    const ps = JSON.parse((await up.run("ps", "--all", "--json")).stdout) as { instanceId: string }[];
    expect(ps.map((i) => i.instanceId)).not.toContain("corrupt");
  });

  it("says what is wrong with a reference without a registry host, and with an unknown tag", async () => {
    const bad = await up.run("start", "oci://echo:1", "--id", "bad");
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/host\[:port\]\/repository/);
    const missing = await up.run("start", `oci://${registry.host}/nobody/here:1`, "--id", "missing");
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/ARTIFACT_NOT_FOUND/);
  });
});

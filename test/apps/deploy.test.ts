import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT, startUp, type Up } from "../support/up.js";

/**
 * `wasmatrix deploy`, `app` and `rollback` against a real `up`: a manifest whose build copies one
 * of two example reactors into place (chosen with --var), so the two versions answer differently.
 */

const C_ECHO = join(ROOT, "examples/build/echo_reactor.wasm");
const AS_ECHO = join(ROOT, "examples/build/as_reactor.wasm");

const MANIFEST = `app:
  name: shop
  version: \${VERSION}
variables:
  VERSION: "1.0.0"
components:
  - name: api
    module: build/api.wasm
    build:
      command: mkdir -p build && cp "\${SRC}" build/api.wasm
    replicas: 2
    restart: always
    labels: { tier: web }
    capabilities: ["keyvalue=kv:read,kv:write"]
`;

interface Listed {
  instanceId: string;
  status: string;
  labels: Record<string, string>;
  moduleDigest: string;
}

describe("applications deployed from a manifest", () => {
  let up: Up;
  let dir: string;
  const deploy = (...args: string[]) => up.run("deploy", "-f", join(dir, "wasmatrix.yaml"), ...args);
  const running = async () =>
    (JSON.parse((await up.run("ps", "--json")).stdout) as Listed[])
      .filter((i) => i.labels["wasmatrix.dev/app"] === "shop")
      .map((i) => i.instanceId)
      .sort();

  beforeAll(async () => {
    expect(existsSync(AS_ECHO)).toBe(true);
    [up, dir] = await Promise.all([startUp(), mkdtemp(join(tmpdir(), "wasmatrix-app-"))]);
    await writeFile(join(dir, "wasmatrix.yaml"), MANIFEST);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([up?.stop(), dir && rm(dir, { recursive: true, force: true })]);
  });

  it("prints the plan with --dry-run and starts nothing", async () => {
    const plan = await deploy("--dry-run", "--var", `SRC=${C_ECHO}`, "--json");
    expect(plan.code, plan.stderr).toBe(0);
    expect(JSON.parse(plan.stdout)).toMatchObject({ app: "shop", revision: 1, stop: [] });
    expect(await running()).toEqual([]);
  });

  it("builds and deploys a first revision, replicas labelled, and records it", async () => {
    const first = await deploy("--var", `SRC=${C_ECHO}`, "--json");
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({
      version: "1.0.0",
      revision: 1,
      started: ["shop-api-r1-1", "shop-api-r1-2"],
    });
    expect(await running()).toEqual(["shop-api-r1-1", "shop-api-r1-2"]);
    expect((await up.run("invoke", "shop-api-r1-2", "echo", "--data", "hi")).stdout).toBe("hi");
    const apps = JSON.parse((await up.run("app", "list", "--json")).stdout);
    expect(apps).toEqual([
      expect.objectContaining({ app: "shop", version: "1.0.0", revision: 1, running: 2 }),
    ]);
  });

  it("updates to a new revision: the new one runs before the old one is stopped, and answers as the new code", async () => {
    const second = await deploy("--var", `SRC=${AS_ECHO}`, "--var", "VERSION=2.0.0", "--json");
    expect(second.code, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({
      revision: 2,
      stopped: ["shop-api-r1-1", "shop-api-r1-2"],
    });
    expect(await running()).toEqual(["shop-api-r2-1", "shop-api-r2-2"]);
    // Only the AssemblyScript reactor has `reverse`.
    expect((await up.run("invoke", "shop-api-r2-1", "reverse", "--data", "abc")).stdout).toBe("cba");
    // The progress shows the order: every start before the first stop.
    const lines = second.stderr.split("\n");
    const lastStart = lines.findLastIndex((l) => l.startsWith("start "));
    const firstStop = lines.findIndex((l) => l.startsWith("stop "));
    expect(lastStart).toBeGreaterThan(0);
    expect(firstStop).toBeGreaterThan(lastStart);
  });

  it("rolls back to the recorded earlier revision, as it was, and says so in the history", async () => {
    const back = await up.run("rollback", "shop", "--json");
    expect(back.code, back.stderr).toBe(0);
    expect(JSON.parse(back.stdout)).toMatchObject({ version: "1.0.0", revision: 1, rolledBackFrom: 2 });
    expect(await running()).toEqual(["shop-api-r1-1", "shop-api-r1-2"]);
    expect((await up.run("invoke", "shop-api-r1-1", "echo", "--data", "again")).stdout).toBe("again");
    const history = JSON.parse((await up.run("app", "history", "shop", "--json")).stdout) as {
      version: string;
      revision: number;
      rolledBackFrom?: number;
      manifestHash: string;
      modules: Record<string, string>;
    }[];
    expect(history.map((h) => [h.version, h.revision, h.rolledBackFrom ?? null])).toEqual([
      ["1.0.0", 1, null],
      ["2.0.0", 2, null],
      ["1.0.0", 1, 2],
    ]);
    expect(history[0]?.modules["api"]).toMatch(/^sha256:/);
    expect(history[0]?.modules["api"]).not.toBe(history[1]?.modules["api"]);
    expect(history[0]?.manifestHash).toMatch(/^sha256:/);
  });

  it("keeps the running revision when a build fails, and points at the manifest's mistakes by line", async () => {
    const broken = await deploy("--var", "SRC=/nonexistent.wasm");
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(/the build of component 'api' failed/);
    expect(await running()).toEqual(["shop-api-r1-1", "shop-api-r1-2"]);

    await writeFile(
      join(dir, "bad.yaml"),
      "app: { name: shop, version: '1' }\ncomponents:\n  - name: api\n    replica: 2\n",
    );
    const bad = await up.run("deploy", "-f", join(dir, "bad.yaml"));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/bad\.yaml:4:5: components\[0\]\.replica: unknown field 'replica'/);
  });
});

import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../support/ports.js";
import { ROOT, startUp, type Up } from "../support/up.js";

/**
 * Deploy, update and roll back an application behind an HTTP route while a client sends requests
 * to it the whole time: not one may fail, and the answers switch with the version. Version 1 is
 * the C http_echo guest, version 2 the AssemblyScript reactor (it answers with `x-guest`).
 */

const C_HTTP = join(ROOT, "examples/build/http_echo.wasm");
const AS_HTTP = join(ROOT, "examples/build/as_reactor.wasm");

const MANIFEST = `app:
  name: web
  version: \${VERSION}
components:
  - name: front
    module: \${MODULE}
    replicas: 2
    restart: always
    routes:
      - path: /shop
`;

describe("an application behind a route, updated and rolled back under load", () => {
  let up: Up;
  let dir: string;
  let http: string;

  beforeAll(async () => {
    http = `127.0.0.1:${await freePort()}`;
    [up, dir] = await Promise.all([startUp(["--http", http]), mkdtemp(join(tmpdir(), "wasmatrix-zdt-"))]);
    await writeFile(join(dir, "wasmatrix.yaml"), MANIFEST);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([up?.stop(), dir && rm(dir, { recursive: true, force: true })]);
  });

  const deploy = async (...vars: string[]) => {
    const args = [
      "deploy",
      "-f",
      join(dir, "wasmatrix.yaml"),
      "--drain",
      "2s",
      ...vars.flatMap((v) => ["--var", v]),
    ];
    const result = await up.run(...args);
    expect(result.code, result.stderr).toBe(0);
  };

  it("serves every request while revisions change, and the answers follow the version", async () => {
    await deploy(`MODULE=${C_HTTP}`, "VERSION=1");
    // The gateway learns a new route from the control plane's facts: wait for it once; from then
    // on, through the update and the rollback, every request must succeed.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const res = await request(`http://${http}/shop/item`).catch(() => null);
      const status = res?.statusCode;
      await res?.body.dump();
      if (status === 200) break;
      if (Date.now() > deadline) throw new Error(`the route never answered (last status ${status})`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const seen: string[] = [];
    const failures: string[] = [];
    let running = true;
    const client = (async () => {
      while (running) {
        try {
          const res = await request(`http://${http}/shop/item`, { method: "POST", body: "x" });
          const text = await res.body.text();
          if (res.statusCode !== 200) failures.push(`${res.statusCode} ${text}`);
          else seen.push(res.headers["x-guest"] === "assemblyscript" ? "v2" : "v1");
        } catch (error) {
          failures.push(String(error));
        }
      }
    })();
    const waitFor = async (version: string) => {
      const deadline = Date.now() + 30_000;
      while (seen.at(-1) !== version && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    };
    await waitFor("v1");
    await deploy(`MODULE=${AS_HTTP}`, "VERSION=2");
    await waitFor("v2");
    const rollback = await up.run("rollback", "web");
    expect(rollback.code, rollback.stderr).toBe(0);
    await waitFor("v1");
    running = false;
    await client;
    expect(failures).toEqual([]);
    // v1, then v2 after the update, then v1 again after the rollback.
    const changes = seen.filter((v, i) => i === 0 || v !== seen[i - 1]);
    expect(changes.slice(0, 1)).toEqual(["v1"]);
    expect(changes).toContain("v2");
    expect(seen.at(-1)).toBe("v1");
    expect(seen.length).toBeGreaterThan(20);
    const routes = JSON.parse((await up.run("route", "list", "--json")).stdout) as { name: string }[];
    expect(routes.map((r) => r.name)).toEqual(["web-front"]);
  }, 180_000);
});

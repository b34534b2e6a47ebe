import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { WasmatrixError } from "@wasmatrix/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { type ManifestProblem, parseManifest } from "./manifest.js";
import { MANIFEST_SCHEMA } from "./manifest-schema.js";

const FILE = "/apps/shop/wasmatrix.yaml";

function problems(text: string, vars: Record<string, string> = {}): ManifestProblem[] {
  try {
    parseManifest(text, { file: FILE, vars });
  } catch (error) {
    expect(WasmatrixError.is(error)).toBe(true);
    const failure = error as WasmatrixError;
    expect(failure.code).toBe("INVALID_REQUEST");
    return failure.details["problems"] as ManifestProblem[];
  }
  throw new Error("the manifest was accepted");
}

const VALID = `app:
  name: shop
  version: 1.2.0
variables:
  REGISTRY: 127.0.0.1:5000
components:
  - name: api
    module: build/api.wasm
    build:
      command: make api
      watch: ["src/**/*.c"]
    replicas: 2
    restart: backoff:initial=100ms,max=5s
    env:
      UPSTREAM: \${REGISTRY}
    labels: { tier: web }
    limits: { memory: 64MiB, fuel: 1000000, timeout: 2s }
    capabilities: ["keyvalue=kv:read,kv:write", logging]
    routes:
      - path: /api
        methods: [GET, POST]
    triggers:
      - name: nightly
        cron: "0 3 * * *"
        operation: cleanup
  - name: worker
    module: oci://\${REGISTRY}/shop/worker:1.2.0
`;

describe("wasmatrix.yaml", () => {
  it("reads every field in the CLI's own syntax, with paths relative to the manifest", () => {
    const manifest = parseManifest(VALID, { file: FILE });
    expect(manifest).toMatchObject({ name: "shop", version: "1.2.0", dir: "/apps/shop" });
    expect(manifest.hash).toMatch(/^sha256:[a-f0-9]{64}$/);
    const [api, worker] = manifest.components;
    expect(api).toMatchObject({
      module: "/apps/shop/build/api.wasm",
      build: { command: "make api", workdir: "/apps/shop", watch: ["src/**/*.c"] },
      replicas: 2,
      restart: { kind: "backoff", initialMs: 100, maxMs: 5000 },
      env: { UPSTREAM: "127.0.0.1:5000" },
      labels: { tier: "web" },
      limits: { maxMemoryBytes: 64 * 1024 * 1024, fuel: 1_000_000, invokeTimeoutMs: 2000 },
      routes: [{ name: "shop-api", path: "/api", methods: ["GET", "POST"] }],
      triggers: [{ name: "nightly", cron: "0 3 * * *", operation: "cleanup" }],
    });
    expect(api?.capabilities.map((c) => c.capability)).toEqual(["keyvalue", "logging"]);
    expect(worker).toMatchObject({ module: "oci://127.0.0.1:5000/shop/worker:1.2.0", replicas: 1 });
  });

  it("lets --var override a variable's default", () => {
    const manifest = parseManifest(VALID, { file: FILE, vars: { REGISTRY: "r.example.com" } });
    expect(manifest.components[1]?.module).toBe("oci://r.example.com/shop/worker:1.2.0");
  });

  it("names the line and column of an unknown field, a wrong type and a missing field", () => {
    const found = problems(`app:
  name: shop
  version: 1
components:
  - name: api
    modul: api.wasm
    replicas: many
`);
    expect(found).toContainEqual(
      expect.objectContaining({ line: 6, column: 5, message: "unknown field 'modul'" }),
    );
    expect(found).toContainEqual(
      expect.objectContaining({ line: 7, column: 15, path: "components[0].replicas" }),
    );
    expect(found).toContainEqual(
      expect.objectContaining({ line: 5, path: "components[0]", message: "'module' is required" }),
    );
    expect(found).toContainEqual(expect.objectContaining({ line: 3, column: 12, path: "app.version" }));
  });

  it("checks values with the CLI's parsers and points at them", () => {
    const found = problems(`app: { name: shop, version: "1" }
components:
  - name: api
    module: api.wasm
    restart: sometimes
    capabilities: ["keyvalue=kv:fly"]
    limits: { memory: lots }
    env: { A: "\${NOPE}" }
  - name: api
    module: other.wasm
`);
    expect(found.map((p) => [p.line, p.path])).toEqual([
      [5, "components[0].restart"],
      [6, "components[0].capabilities[0]"],
      [7, "components[0].limits.memory"],
      [8, "components[0].env.A"],
      [9, "components[1].name"],
    ]);
    expect(found[3]?.message).toMatch(/--var NOPE=/);
  });

  it("requires exactly one of cron and queue on a trigger", () => {
    const found = problems(`app: { name: shop, version: "1" }
components:
  - name: api
    module: api.wasm
    triggers:
      - { name: t, cron: "* * * * *", queue: jobs, operation: run }
`);
    expect(found).toContainEqual(expect.objectContaining({ line: 6, path: "components[0].triggers[0]" }));
  });

  it("reports YAML syntax errors with their position, and the file in the message", () => {
    try {
      parseManifest("app: [unclosed\n", { file: FILE });
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).toMatch(
        /^\/apps\/shop\/wasmatrix.yaml is not a valid manifest:\n\/apps\/shop\/wasmatrix.yaml:\d+:\d+: /,
      );
    }
  });

  it("reads back any well-formed component it is given", () => {
    const name = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/);
    const component = fc.record({
      name,
      module: name.map((n) => `${n}.wasm`),
      replicas: fc.integer({ min: 1, max: 1000 }),
      labels: fc.dictionary(name, fc.string({ maxLength: 20 })),
      env: fc.dictionary(
        fc.stringMatching(/^[A-Z_][A-Z0-9_]{0,10}$/),
        fc.string({ maxLength: 20 }).filter((s) => !s.includes("${")),
      ),
    });
    fc.assert(
      fc.property(
        fc.uniqueArray(component, { minLength: 1, maxLength: 5, selector: (c) => c.name }),
        (components) => {
          const text = stringify({ app: { name: "p", version: "1" }, components });
          const parsed = parseManifest(text, { file: FILE });
          expect(
            parsed.components.map((c) => ({
              name: c.name,
              replicas: c.replicas,
              labels: c.labels,
              env: c.env,
            })),
          ).toEqual(
            components.map((c) => ({ name: c.name, replicas: c.replicas, labels: c.labels, env: c.env })),
          );
        },
      ),
      { numRuns: 50 },
    );
  });

  it("is published for editors as docs/wasmatrix.schema.json, the same schema the CLI checks with", () => {
    const published = JSON.parse(
      readFileSync(fileURLToPath(new URL("../../../../docs/wasmatrix.schema.json", import.meta.url)), "utf8"),
    );
    expect(published).toEqual(JSON.parse(JSON.stringify(MANIFEST_SCHEMA)));
  });
});

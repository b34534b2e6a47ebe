import * as pb from "@wasmatrix/proto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { AppManifest } from "./manifest.js";
import { APP_LABEL, planDeploy, REVISION_LABEL, revisionOf } from "./plan.js";

function manifest(replicas: Record<string, number>): AppManifest {
  return {
    name: "shop",
    version: "2.0.0",
    hash: `sha256:${"0".repeat(64)}`,
    dir: "/apps/shop",
    components: Object.entries(replicas).map(([name, n]) => ({
      name,
      module: `/apps/shop/${name}.wasm`,
      replicas: n,
      args: [],
      env: {},
      labels: { tier: name },
      limits: {},
      capabilities: [],
      routes: [],
      triggers: [],
    })),
  };
}

function instance(id: string, app: string, revision: number, status: string): pb.Instance {
  return pb.Instance.fromPartial({
    instanceId: id,
    status,
    labels: { [APP_LABEL]: app, [REVISION_LABEL]: String(revision) },
  });
}

describe("deploy plans", () => {
  it("put a first deploy in revision 1 and start every replica under its own id", () => {
    const plan = planDeploy(manifest({ api: 2, worker: 1 }), []);
    expect(plan.revision).toBe(1);
    expect(plan.previous).toBeUndefined();
    expect(plan.start.map((s) => s.instanceId)).toEqual(["shop-api-r1-1", "shop-api-r1-2", "shop-worker-r1"]);
    expect(plan.start[0]?.labels).toMatchObject({ tier: "api", "wasmatrix.dev/deployment": "shop-api-r1" });
    expect(plan.stop).toEqual([]);
  });

  it("number an update after every revision ever seen, and stop only the live instances of the app", () => {
    const current = [
      instance("shop-api-r3", "shop", 3, "running"),
      instance("shop-api-r4", "shop", 4, "stopped"),
      instance("other-api-r9", "other", 9, "running"),
      instance("shop-api-r2", "shop", 2, "completed"),
    ];
    const plan = planDeploy(manifest({ api: 1 }), current);
    expect(plan.revision).toBe(5);
    expect(plan.previous).toBe(3);
    expect(plan.stop).toEqual(["shop-api-r3"]);
  });

  it("never start an id that an earlier revision used, whatever the app's history", () => {
    const history = fc.array(
      fc.record({
        revision: fc.integer({ min: 1, max: 50 }),
        status: fc.constantFrom("running", "stopped", "crashed"),
      }),
    );
    fc.assert(
      fc.property(history, fc.integer({ min: 1, max: 4 }), (past, replicas) => {
        const current = past.map((p, i) =>
          instance(`shop-api-r${p.revision}-${i}`, "shop", p.revision, p.status),
        );
        const plan = planDeploy(manifest({ api: replicas }), current);
        expect(plan.revision).toBeGreaterThan(Math.max(0, ...current.map(revisionOf)));
        const ids = new Set(current.map((c) => c.instanceId));
        for (const start of plan.start) expect(ids.has(start.instanceId)).toBe(false);
        expect(new Set(plan.start.map((s) => s.instanceId)).size).toBe(replicas);
      }),
    );
  });
});

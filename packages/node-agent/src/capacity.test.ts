import { backoffPolicy, ErrorCode } from "@wasmatrix/core";
import { rejection } from "@wasmatrix/core/test-support/expect-code";
import { DEFAULT_MAX_INSTANCES, MAX_WASM_MEMORIES_PER_PROCESS } from "@wasmatrix/runtime";
import { afterEach, describe, expect, it } from "vitest";
import { NodeAgent } from "./agent.js";
import { LocalNodeApi } from "./local-api.js";
import { guests } from "./test-support/guests.js";

const agents: NodeAgent[] = [];

function agent(maxInstances?: number): NodeAgent {
  const a = new NodeAgent({
    nodeId: "node-capacity",
    runtime: { workers: 2 },
    stopDeadlineMs: 500,
    ...(maxInstances === undefined ? {} : { maxInstances }),
  });
  agents.push(a);
  return a;
}

afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.close(200)));
});

describe("a node's capacity", () => {
  it("holds what one runtime process holds by default and reports it in its node info", async () => {
    const a = agent();
    expect(DEFAULT_MAX_INSTANCES).toBe(MAX_WASM_MEMORIES_PER_PROCESS);
    expect(a.capacity).toBe(DEFAULT_MAX_INSTANCES);
    expect((await new LocalNodeApi(a).nodeInfo()).maxInstances).toBe(DEFAULT_MAX_INSTANCES);
    expect((await new LocalNodeApi(agent(7)).nodeInfo()).maxInstances).toBe(7);
  });

  it("refuses a start past --max-instances with RESOURCE_EXHAUSTED while the running instances keep answering", async () => {
    const a = agent(3);
    const module = await guests.proxy();
    for (const id of ["r1", "r2", "r3"]) await a.start({ instanceId: id, module });
    const error = await rejection(a.start({ instanceId: "r4", module }));
    expect(error.code).toBe(ErrorCode.RESOURCE_EXHAUSTED);
    expect(error.message).toMatch(/node 'node-capacity' is full.*at most 3.*another node.*runtime shards/);
    expect(error.details).toMatchObject({ reason: "capacity", maxInstances: 3, running: 3 });
    // Nothing of the refused start is left behind.
    expect(a.list().map((v) => v.instanceId)).toEqual(["r1", "r2", "r3"]);
    expect(a.runtime.list()).toHaveLength(3);
    const answer = await a.invoke("r2", "count", new Uint8Array());
    expect(answer.outcome.status).toBe("ok");
  });

  it("counts starts still compiling, so concurrent starts never pass the limit", async () => {
    const a = agent(2);
    const module = await guests.proxy();
    const results = await Promise.allSettled(
      ["c1", "c2", "c3", "c4"].map((id) => a.start({ instanceId: id, module })),
    );
    const refused = results.filter((r) => r.status === "rejected");
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(2);
    expect(refused).toHaveLength(2);
    for (const r of refused)
      expect((r as PromiseRejectedResult).reason).toMatchObject({ code: "RESOURCE_EXHAUSTED" });
    expect(a.activeCount()).toBe(2);
  });

  it("starts again once instances are stopped, and keeps a place for an instance waiting to restart", async () => {
    const a = agent(2);
    const module = await guests.proxy();
    await a.start({ instanceId: "s1", module });
    await a.start({ instanceId: "s2", module });
    await a.stop("s1");
    await a.start({ instanceId: "s3", module });
    expect((await rejection(a.start({ instanceId: "s4", module }))).code).toBe(ErrorCode.RESOURCE_EXHAUSTED);
    await a.stop("s2");
    // A command that crashed waits a minute to restart, and holds its place meanwhile.
    await a.start({
      instanceId: "crashy",
      module: await guests.trapCommand(),
      restartPolicy: backoffPolicy({ initialMs: 60_000, maxMs: 60_000, jitter: 0 }),
    });
    await a.waitFor("crashy", (v) => v.status === "restarting");
    expect((await rejection(a.start({ instanceId: "s5", module }))).code).toBe(ErrorCode.RESOURCE_EXHAUSTED);
    await a.stop("crashy");
    await a.start({ instanceId: "s5", module });
    expect(a.get("s5").status).toBe("running");
  });

  it("refuses an impossible --max-instances before the node starts", () => {
    for (const bad of [0, -1, 1.5]) {
      expect(() => new NodeAgent({ maxInstances: bad })).toThrow(/maxInstances must be a positive integer/);
    }
  });
});

import { ErrorCode, INSTANCE_STATUSES, isEnded } from "@wasmatrix/core";
import * as pb from "@wasmatrix/proto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ControlPlane } from "./control-plane.js";

/**
 * The control plane in-process, with node agents replaced by recorders: what it knows of
 * instances is exactly what the nodes last reported, and a silent node is lost on time, by a
 * clock the test turns by hand.
 */

const INTERVAL_MS = 100;

/** A node agent that records what the control plane asks of it. */
class RecordingNode implements pb.NodeAgentApi {
  readonly starts: pb.StartInstanceRequest[] = [];
  readonly stops: string[] = [];
  constructor(
    readonly nodeId: string,
    private readonly now: () => number,
  ) {}
  async startInstance(request: pb.StartInstanceRequest): Promise<pb.Instance> {
    this.starts.push(request);
    return instance(request.instanceId, this.nodeId, "running", this.now(), {
      restartPolicy: request.restartPolicy,
      moduleDigest: request.moduleDigest,
      requiredNodeLabels: request.requiredNodeLabels,
    });
  }
  async stopInstance(request: pb.StopInstanceRequest): Promise<pb.Instance> {
    this.stops.push(request.instanceId);
    return instance(request.instanceId, this.nodeId, "stopped", this.now());
  }
  queryStatus = unused;
  invoke = unused;
  listInstances = unused;
  setAssignments = unused;
  streamLogs = unused as never;
  nodeInfo = unused;
}
async function unused(): Promise<never> {
  throw new Error("not used by these tests");
}

function instance(
  instanceId: string,
  nodeId: string,
  status: string,
  createdAtMs: number,
  fields: pb.DeepPartial<pb.Instance> = {},
): pb.Instance {
  return pb.Instance.fromPartial({
    instanceId,
    nodeId,
    status,
    kind: "reactor",
    moduleDigest: `sha256:${"a".repeat(64)}`,
    createdAtMs,
    updatedAtMs: createdAtMs,
    ...fields,
  });
}

function cluster(nodeIds: string[], options: { clock?: { t: number } } = {}) {
  const clock = options.clock ?? { t: 1_000 };
  const now = () => clock.t;
  const cp = new ControlPlane({ heartbeatIntervalMs: INTERVAL_MS, now });
  const nodes = new Map<string, RecordingNode>();
  for (const nodeId of nodeIds) {
    const api = new RecordingNode(nodeId, now);
    nodes.set(nodeId, api);
    cp.registerNode(
      pb.Node.fromPartial({
        nodeId,
        address: `10.0.0.${nodes.size}:7401`,
        capabilities: ["logging", "keyvalue"],
      }),
      api,
    );
  }
  return { cp, nodes, clock };
}

/** Lets the starts a report set off (fire and forget, as they are in the daemon) finish. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

const listed = async (cp: ControlPlane) => (await cp.listInstances({ nodeId: "", status: "" })).instances;

/** Sorted the way listInstances sorts. */
const sorted = (instances: pb.Instance[]) =>
  [...instances].sort((a, b) => a.createdAtMs - b.createdAtMs || a.instanceId.localeCompare(b.instanceId));

const NODE_IDS = ["n0", "n1", "n2", "n3"];
const status = fc.constantFrom(...INSTANCE_STATUSES);

describe("status reports", () => {
  it("leave the control plane's table equal to the last report of each node", async () => {
    // Each node reports instances whose ids are its own, as nodes do when nothing has moved.
    const report = fc.record({
      node: fc.constantFrom(...NODE_IDS),
      instances: fc.uniqueArray(
        fc.record({ k: fc.nat({ max: 5 }), status, createdAtMs: fc.nat({ max: 50 }) }),
        {
          selector: (i) => i.k,
          maxLength: 6,
        },
      ),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(report, { minLength: 1, maxLength: 25 }), async (reports) => {
        const { cp } = cluster(NODE_IDS);
        const last = new Map<string, pb.Instance[]>();
        for (const r of reports) {
          const instances = r.instances.map((i) =>
            instance(`${r.node}-i${i.k}`, r.node, i.status, i.createdAtMs),
          );
          expect(cp.reportStatus(r.node, instances)).toBe(true);
          last.set(r.node, instances);
          expect(await listed(cp)).toEqual(sorted([...last.values()].flat()));
          const { nodes } = await cp.listNodes();
          for (const node of nodes) {
            const active = (last.get(node.nodeId) ?? []).filter((i) => !isEnded(i.status)).length;
            expect(node.instances, node.nodeId).toBe(active);
          }
        }
      }),
      { numRuns: 200 },
    );
  });

  // Ids shared between nodes: what happens when an instance moved (a lost node came back, or an
  // id was reused elsewhere after its instance ended).
  const sharedReports = fc.array(
    fc.record({
      node: fc.constantFrom(...NODE_IDS.slice(0, 3)),
      instances: fc.uniqueArray(fc.record({ k: fc.nat({ max: 3 }), status }), {
        selector: (i) => i.k,
        maxLength: 4,
      }),
    }),
    { minLength: 1, maxLength: 20 },
  );

  async function replay(
    reports: { node: string; instances: { k: number; status: string }[] }[],
    check: Check,
  ) {
    const { cp, nodes } = cluster(NODE_IDS.slice(0, 3));
    const last = new Map<string, pb.Instance[]>();
    for (const [step, r] of reports.entries()) {
      const instances = r.instances.map((i) => instance(`i${i.k}`, r.node, i.status, step));
      cp.reportStatus(r.node, instances);
      last.set(r.node, instances);
      check(await listed(cp), last, nodes);
    }
  }
  type Check = (
    view: pb.Instance[],
    last: Map<string, pb.Instance[]>,
    nodes: Map<string, RecordingNode>,
  ) => void;

  it("never list an instance other than as its node last reported it, even when ids move", async () => {
    await fc.assert(
      fc.asyncProperty(sharedReports, (reports) =>
        replay(reports, (view, last) => {
          expect(new Set(view.map((i) => i.instanceId)).size).toBe(view.length);
          for (const shown of view) {
            expect(last.get(shown.nodeId)?.find((i) => i.instanceId === shown.instanceId)).toEqual(shown);
          }
        }),
      ),
      { numRuns: 300 },
    );
  });

  it("ask a node to stop its live copy of an id that runs on another node, and list only the first", async () => {
    const { cp, nodes } = cluster(["n0", "n1"]);
    cp.reportStatus("n0", [instance("dup", "n0", "running", 1)]);
    cp.reportStatus("n1", [instance("dup", "n1", "running", 2)]);
    await Promise.resolve();
    expect(nodes.get("n1")!.stops).toEqual(["dup"]);
    expect(nodes.get("n0")!.stops).toEqual([]);
    expect(await listed(cp)).toEqual([instance("dup", "n0", "running", 1)]);
  });

  it("keep instances a partial report leaves out, and drop them at the next full report", async () => {
    const { cp } = cluster(["n0"]);
    cp.reportStatus("n0", [instance("a", "n0", "running", 1), instance("b", "n0", "running", 1)]);
    cp.reportStatus("n0", [instance("b", "n0", "stopped", 2)], { partial: true });
    expect(await listed(cp)).toEqual([instance("a", "n0", "running", 1), instance("b", "n0", "stopped", 2)]);
    cp.reportStatus("n0", [instance("a", "n0", "running", 1)]);
    expect(await listed(cp)).toEqual([instance("a", "n0", "running", 1)]);
  });

  it("from a node declared lost are refused while partial, so its whole table comes back first", async () => {
    const { cp } = cluster(["n0"]);
    cp.reportStatus("n0", [instance("a", "n0", "running", 1), instance("b", "n0", "running", 1)]);
    await cp.nodeLost("n0");
    expect(cp.reportStatus("n0", [instance("b", "n0", "stopped", 2)], { partial: true })).toBe(false);
    expect((await cp.listNodes()).nodes[0]!.status).toBe("lost");
    expect(cp.reportStatus("n0", [instance("a", "n0", "running", 1)])).toBe(true);
    expect((await cp.listNodes()).nodes[0]!.status).toBe("alive");
    expect(await listed(cp)).toEqual([instance("a", "n0", "running", 1)]);
  });

  it("keep a live copy listed when another node reports a finished copy of the same id", async () => {
    const { cp } = cluster(["n0", "n1"]);
    cp.reportStatus("n0", [instance("mover", "n0", "stopped", 1)]);
    cp.reportStatus("n1", [instance("mover", "n1", "running", 2)]);
    cp.reportStatus("n0", [instance("mover", "n0", "stopped", 1)]);
    expect(await listed(cp)).toEqual([instance("mover", "n1", "running", 2)]);
  });

  it("list every live copy a node last reported, unless that node was asked to stop it", async () => {
    await fc.assert(
      fc.asyncProperty(sharedReports, (reports) =>
        replay(reports, (view, last, nodes) => {
          for (const [nodeId, instances] of last) {
            for (const copy of instances.filter((i) => !isEnded(i.status))) {
              const shown = view.find((i) => i.instanceId === copy.instanceId);
              const stopped = nodes.get(nodeId)!.stops.includes(copy.instanceId);
              expect(shown?.nodeId === nodeId || stopped, `${copy.instanceId} on ${nodeId}`).toBe(true);
            }
          }
        }),
      ),
      { numRuns: 300 },
    );
  });

  it("from a node the control plane does not know are refused, so the node registers again", async () => {
    const { cp } = cluster(["n0"]);
    expect(cp.reportStatus("stranger", [instance("x", "stranger", "running", 1)])).toBe(false);
    expect(await listed(cp)).toEqual([]);
  });
});

describe("liveness", () => {
  const always = { policy: { $case: "always" as const, value: {} } };
  const backoff = {
    policy: {
      $case: "backoff" as const,
      value: { initialMs: 10, maxMs: 100, multiplier: 2, jitter: 0, resetAfterMs: 1000, maxRestarts: -1 },
    },
  };

  it("loses a node silent for more than 3 intervals, and not a millisecond sooner", async () => {
    const { cp, clock } = cluster(["n0", "n1"]);
    const registeredAt = clock.t;
    clock.t += 2 * INTERVAL_MS;
    cp.reportStatus("n1", []);
    clock.t = registeredAt + 3 * INTERVAL_MS;
    expect(await cp.checkLiveness()).toEqual([]);
    clock.t += 1;
    expect(await cp.checkLiveness()).toEqual(["n0"]);
    expect(await cp.checkLiveness()).toEqual([]);
    const { nodes } = await cp.listNodes();
    expect(Object.fromEntries(nodes.map((n) => [n.nodeId, n.status]))).toEqual({ n0: "lost", n1: "alive" });
    const [lost] = cp.facts.query({ kind: "node.lost" });
    expect(lost).toMatchObject({ nodeId: "n0", at: clock.t, data: { lastHeartbeatAt: registeredAt } });
  });

  it("records instance.lost for each live instance, moves `always` and `backoff` ones, leaves `never` ones lost", async () => {
    const { cp, nodes, clock } = cluster(["n0", "n1"]);
    cp.reportStatus("n0", [
      instance("keep", "n0", "running", 1, { restartPolicy: always }),
      instance("retry", "n0", "backoff", 2, { restartPolicy: backoff }),
      instance("drop", "n0", "running", 3),
      instance("done", "n0", "completed", 4, { restartPolicy: always }),
    ]);
    clock.t += 3 * INTERVAL_MS + 1;
    cp.reportStatus("n1", []);
    expect(await cp.checkLiveness()).toEqual(["n0"]);

    const lostIds = cp.facts.query({ kind: "instance.lost" }).map((f) => f.instanceId);
    expect(lostIds.sort()).toEqual(["drop", "keep", "retry"]);
    expect(
      nodes
        .get("n1")!
        .starts.map((r) => r.instanceId)
        .sort(),
    ).toEqual(["keep", "retry"]);
    for (const start of nodes.get("n1")!.starts) {
      // No bytes were ever sent through this control plane: the digest names the module.
      expect(start.moduleDigest).toBe(`sha256:${"a".repeat(64)}`);
    }
    const byId = Object.fromEntries((await listed(cp)).map((i) => [i.instanceId, i]));
    expect(byId["keep"]).toMatchObject({ nodeId: "n1", status: "running" });
    expect(byId["retry"]).toMatchObject({ nodeId: "n1", status: "running" });
    expect(byId["drop"]).toMatchObject({ nodeId: "n0", status: "lost" });
    expect(byId["done"]).toMatchObject({ nodeId: "n0", status: "completed" });
    await expect(
      cp.invoke({ instanceId: "drop", operation: "x", payload: Buffer.alloc(0) }),
    ).rejects.toMatchObject({
      code: ErrorCode.NODE_UNAVAILABLE,
    });
  });

  it("keeps a lost `always` instance pending, with a fact saying why, until a node with its label reports", async () => {
    const { cp, nodes, clock } = cluster(["n0", "n1"]);
    cp.reportStatus("n0", [
      instance("pinned", "n0", "running", 1, { restartPolicy: always, requiredNodeLabels: { zone: "a" } }),
    ]);
    clock.t += 3 * INTERVAL_MS + 1;
    cp.reportStatus("n1", []);
    await cp.checkLiveness();
    expect(nodes.get("n1")!.starts).toEqual([]);
    expect((await listed(cp))[0]).toMatchObject({ instanceId: "pinned", nodeId: "n0", status: "pending" });
    const [pending] = cp.facts.query({ kind: "instance.pending" });
    expect(pending).toMatchObject({
      instanceId: "pinned",
      data: { reason: "no_eligible_node", detail: "n0: node is lost; n1: label zone=a missing" },
    });
    const refused = cp.invoke({ instanceId: "pinned", operation: "x", payload: Buffer.alloc(0) });
    await expect(refused).rejects.toMatchObject({
      code: ErrorCode.NODE_UNAVAILABLE,
      message: expect.stringContaining("is pending"),
      details: { instanceId: "pinned", status: "pending" },
    });

    // Reports of nodes that cannot take it change nothing and record no second fact.
    cp.reportStatus("n1", []);
    await settle();
    expect(nodes.get("n1")!.starts).toEqual([]);

    const n2 = new RecordingNode("n2", () => clock.t);
    cp.registerNode(
      pb.Node.fromPartial({ nodeId: "n2", address: "10.0.0.9:7401", labels: { zone: "a" } }),
      n2,
    );
    cp.reportStatus("n2", []);
    await settle();
    expect(n2.starts.map((r) => r.instanceId)).toEqual(["pinned"]);
    expect(n2.starts[0]!.requiredNodeLabels).toEqual({ zone: "a" });
    expect((await listed(cp))[0]).toMatchObject({ instanceId: "pinned", nodeId: "n2", status: "running" });
    expect(cp.facts.query({ kind: "instance.pending" })).toHaveLength(1);
    cp.reportStatus("n2", [instance("pinned", "n2", "running", clock.t)]);
    await settle();
    expect(n2.starts).toHaveLength(1);
  });

  it("takes the new node's report of a pending instance, sent before its start returns, as the instance", async () => {
    const { cp, clock } = cluster(["n0"]);
    cp.reportStatus("n0", [instance("eager", "n0", "running", 1, { restartPolicy: always })]);
    clock.t += 3 * INTERVAL_MS + 1;
    await cp.checkLiveness();
    // A real node reports the instance it started as soon as it runs, often before the answer.
    const n1 = new RecordingNode("n1", () => clock.t);
    const start = n1.startInstance.bind(n1);
    n1.startInstance = async (request) => {
      const started = await start(request);
      cp.reportStatus("n1", [started], { partial: true });
      return started;
    };
    cp.registerNode(pb.Node.fromPartial({ nodeId: "n1", address: "10.0.0.9:7401" }), n1);
    cp.reportStatus("n1", []);
    await settle();
    expect(n1.stops).toEqual([]);
    expect((await listed(cp))[0]).toMatchObject({ nodeId: "n1", status: "running" });
  });

  it("gives a pending instance back to its own node when that node returns with it, starting nothing", async () => {
    const { cp, nodes, clock } = cluster(["n0"]);
    cp.reportStatus("n0", [instance("home", "n0", "running", 1, { restartPolicy: always })]);
    clock.t += 3 * INTERVAL_MS + 1;
    await cp.checkLiveness();
    expect((await listed(cp))[0]).toMatchObject({ status: "pending" });
    expect(cp.reportStatus("n0", [instance("home", "n0", "running", 1, { restartPolicy: always })])).toBe(
      true,
    );
    await settle();
    expect(nodes.get("n0")!.starts).toEqual([]);
    expect((await listed(cp))[0]).toMatchObject({ nodeId: "n0", status: "running" });
  });

  it("stops a pending instance without a node: it is stopped and never started later", async () => {
    const { cp, clock } = cluster(["n0"]);
    cp.reportStatus("n0", [instance("idle", "n0", "running", 1, { restartPolicy: backoff })]);
    clock.t += 3 * INTERVAL_MS + 1;
    await cp.checkLiveness();
    expect(await cp.stopInstance({ instanceId: "idle", deadlineMs: 0 })).toMatchObject({ status: "stopped" });
    const n1 = new RecordingNode("n1", () => clock.t);
    cp.registerNode(pb.Node.fromPartial({ nodeId: "n1", address: "10.0.0.9:7401" }), n1);
    cp.reportStatus("n1", []);
    await settle();
    expect(n1.starts).toEqual([]);
    expect(cp.facts.query({ instanceId: "idle" }).map((f) => f.kind)).toEqual([
      "instance.lost",
      "instance.pending",
      "instance.stopped",
    ]);
  });

  it("starts a pending instance exactly once, on the first joining node that carries its label, whatever joins", async () => {
    const joiner = fc.record({
      zone: fc.constantFrom("a", "b", "c"),
      reports: fc.integer({ min: 1, max: 3 }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(joiner, { maxLength: 6 }), async (joiners) => {
        const { cp, clock } = cluster(["n0"]);
        cp.reportStatus("n0", [
          instance("pinned", "n0", "running", 1, {
            restartPolicy: always,
            requiredNodeLabels: { zone: "a" },
          }),
        ]);
        clock.t += 3 * INTERVAL_MS + 1;
        await cp.checkLiveness();
        const joined: RecordingNode[] = [];
        for (const [i, j] of joiners.entries()) {
          const node = new RecordingNode(`j${i}`, () => clock.t);
          joined.push(node);
          cp.registerNode(
            pb.Node.fromPartial({
              nodeId: node.nodeId,
              address: `10.0.1.${i}:7401`,
              labels: { zone: j.zone },
            }),
            node,
          );
          for (let r = 0; r < j.reports; r++) {
            cp.reportStatus(
              node.nodeId,
              node.starts.length > 0 ? [instance("pinned", node.nodeId, "running", 1)] : [],
            );
            await settle();
          }
        }
        const first = joiners.findIndex((j) => j.zone === "a");
        const starts = joined.flatMap((n) => n.starts.map(() => n.nodeId));
        expect(starts).toEqual(first === -1 ? [] : [`j${first}`]);
        const [pinned] = await listed(cp);
        expect(pinned!.status).toBe(first === -1 ? "pending" : "running");
        expect(cp.facts.query({ kind: "instance.pending" })).toHaveLength(1);
      }),
      { numRuns: 100 },
    );
  });

  it("starts each lost instance at most once, on a node with its label, whatever reports race its move", async () => {
    const lostSpec = fc.uniqueArray(
      fc.record({ id: fc.integer({ min: 0, max: 7 }), zone: fc.constantFrom("a", "b", "c") }),
      { selector: (i) => i.id, maxLength: 8 },
    );
    const other = fc.record({ zone: fc.constantFrom("a", "b"), joinsLate: fc.boolean() });
    const report = fc.record({ node: fc.integer({ min: 0, max: 3 }), settle: fc.boolean() });
    await fc.assert(
      fc.asyncProperty(
        lostSpec,
        fc.array(other, { minLength: 1, maxLength: 4 }),
        fc.array(report, { maxLength: 10 }),
        async (specs, others, reports) => {
          const { cp, clock } = cluster(["n0"]);
          const nodes = others.map((o, i) => ({ ...o, api: new RecordingNode(`m${i}`, () => clock.t) }));
          const join = (n: (typeof nodes)[number]) =>
            cp.registerNode(
              pb.Node.fromPartial({
                nodeId: n.api.nodeId,
                address: "10.0.2.1:7401",
                labels: { zone: n.zone },
              }),
              n.api,
            );
          for (const n of nodes) if (!n.joinsLate) join(n);
          cp.reportStatus(
            "n0",
            specs.map((s) =>
              instance(`i${s.id}`, "n0", "running", 1, {
                restartPolicy: always,
                requiredNodeLabels: { zone: s.zone },
              }),
            ),
          );
          clock.t += 3 * INTERVAL_MS + 1;
          // Only n0 falls silent: a second loss would move its instances a second time, rightly.
          for (const n of nodes) if (!n.joinsLate) cp.reportStatus(n.api.nodeId, []);
          const losing = cp.checkLiveness();
          for (const n of nodes) if (n.joinsLate) join(n);
          // Each node reports truthfully what it was asked to start, while the move is under way.
          for (const r of reports) {
            const n = nodes[r.node % nodes.length]!;
            const running = n.api.starts.map((s) => instance(s.instanceId, n.api.nodeId, "running", 1));
            cp.reportStatus(n.api.nodeId, running);
            if (r.settle) await settle();
          }
          await losing;
          await settle();
          const starts = nodes.flatMap((n) => n.api.starts.map((s) => ({ id: s.instanceId, zone: n.zone })));
          expect(new Set(starts.map((s) => s.id)).size).toBe(starts.length);
          const wanted = new Map(specs.map((s) => [`i${s.id}`, s.zone]));
          for (const start of starts) expect(start.zone).toBe(wanted.get(start.id));
        },
      ),
      { numRuns: 200 },
    );
  });

  it("takes a lost node back when it reports again, with a node.registered fact", async () => {
    const { cp, clock } = cluster(["n0"]);
    clock.t += 3 * INTERVAL_MS + 1;
    await cp.checkLiveness();
    expect(cp.reportStatus("n0", [instance("back", "n0", "running", 1)])).toBe(true);
    const { nodes } = await cp.listNodes();
    expect(nodes[0]).toMatchObject({ status: "alive", instances: 1 });
    expect(cp.facts.query({ nodeId: "n0" }).map((f) => f.kind)).toEqual([
      "node.registered",
      "node.lost",
      "node.registered",
    ]);
  });

  it("never loses a node that runs in its own process (the embedded one), whatever its address", async () => {
    const clock = { t: 0 };
    const cp = new ControlPlane({ heartbeatIntervalMs: INTERVAL_MS, now: () => clock.t });
    cp.registerNode(
      pb.Node.fromPartial({ nodeId: "solo", address: "in-process" }),
      new RecordingNode("solo", () => 0),
      {
        local: true,
      },
    );
    cp.registerNode(
      pb.Node.fromPartial({ nodeId: "remote", address: "embedded" }),
      new RecordingNode("remote", () => 0),
    );
    clock.t = 1e9;
    expect(await cp.checkLiveness()).toEqual(["remote"]);
  });
});

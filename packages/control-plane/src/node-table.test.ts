import { INSTANCE_STATUSES, isEnded } from "@wasmatrix/core";
import * as pb from "@wasmatrix/proto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type NodeApi, NodeTable } from "./node-table.js";

/**
 * The node table against a model: whatever sequence of registrations, reports (whole and partial),
 * losses and departures arrives, each node's instances are those its last reports said, its
 * liveness what the last event made it, and placement sees the same.
 */

const NODE_IDS = ["n0", "n1", "n2", "n3"];
const api = {} as NodeApi;

type Event =
  | { kind: "register"; node: string }
  | { kind: "report"; node: string; partial: boolean; instances: { id: number; status: string }[] }
  | { kind: "lose"; node: string }
  | { kind: "deregister"; node: string };

const node = fc.constantFrom(...NODE_IDS);
const event: fc.Arbitrary<Event> = fc.oneof(
  fc.record({ kind: fc.constant("register" as const), node }),
  fc.record({
    kind: fc.constant("report" as const),
    node,
    partial: fc.boolean(),
    instances: fc.uniqueArray(
      fc.record({ id: fc.integer({ min: 0, max: 5 }), status: fc.constantFrom(...INSTANCE_STATUSES) }),
      { selector: (i) => i.id, maxLength: 6 },
    ),
  }),
  fc.record({ kind: fc.constant("lose" as const), node }),
  fc.record({ kind: fc.constant("deregister" as const), node }),
);

interface ModelNode {
  status: "alive" | "lost";
  /** instance id → status */
  instances: Map<string, string>;
}

function instance(instanceId: string, nodeId: string, status: string): pb.Instance {
  return pb.Instance.fromPartial({ instanceId, nodeId, status, kind: "reactor", createdAtMs: 1 });
}

describe("the node table", () => {
  it("after any sequence of register, report, lose and deregister, holds each live node's last report", () => {
    fc.assert(
      fc.property(fc.array(event, { maxLength: 40 }), (events) => {
        let t = 0;
        const table = new NodeTable(() => t);
        const model = new Map<string, ModelNode>();
        for (const e of events) {
          t++;
          const known = model.get(e.node);
          if (e.kind === "register") {
            const joins = table.register(pb.Node.fromPartial({ nodeId: e.node, address: "a:1" }), api);
            expect(joins).toBe(known === undefined || known.status !== "alive");
            if (known === undefined) model.set(e.node, { status: "alive", instances: new Map() });
            else known.status = "alive";
          } else if (e.kind === "report") {
            // Ids are per node, so no report names an instance that runs elsewhere.
            const reported = e.instances.map((i) => instance(`${e.node}-i${i.id}`, e.node, i.status));
            const outcome = table.report(e.node, reported, { partial: e.partial });
            const accepted = known !== undefined && (!e.partial || known.status === "alive");
            expect(outcome.known).toBe(accepted);
            expect(outcome.moved).toEqual([]);
            if (accepted) {
              expect(outcome.returned).toBe(known.status === "lost");
              known.status = "alive";
              if (!e.partial) known.instances.clear();
              for (const i of reported) known.instances.set(i.instanceId, i.status);
            }
          } else if (e.kind === "lose") {
            const lost = table.lose(e.node);
            if (known === undefined || known.status === "lost") {
              expect(lost).toBeNull();
            } else {
              const live = [...known.instances].filter(([, status]) => !isEnded(status)).map(([id]) => id);
              expect(lost?.instances.map((i) => i.instanceId).sort()).toEqual(live.sort());
              known.status = "lost";
              for (const id of live) known.instances.set(id, "lost");
            }
          } else {
            expect(table.deregister(e.node)).toBe(known !== undefined);
            model.delete(e.node);
          }

          const nodes = new Map(table.list().map((n) => [n.nodeId, n]));
          expect([...nodes.keys()].sort()).toEqual([...model.keys()].sort());
          const candidates = new Map(table.candidates().map((c) => [c.nodeId, c]));
          for (const [nodeId, expected] of model) {
            const listed = table.instances.select({ nodeId, status: "" });
            expect(new Map(listed.map((i) => [i.instanceId, i.status]))).toEqual(expected.instances);
            const active = [...expected.instances.values()].filter((s) => !isEnded(s)).length;
            expect(nodes.get(nodeId)).toMatchObject({ status: expected.status, instances: active });
            expect(candidates.get(nodeId)).toMatchObject({
              alive: expected.status === "alive",
              instances: active,
            });
          }
          // Nothing is left of nodes that went.
          expect(table.instances.size).toBe([...model.values()].reduce((n, m) => n + m.instances.size, 0));
        }
      }),
      { numRuns: 300 },
    );
  });

  it("never finds a local node silent, however old its last heartbeat", () => {
    let t = 0;
    const table = new NodeTable(() => t);
    table.register(pb.Node.fromPartial({ nodeId: "here", address: "embedded" }), api, { local: true });
    table.register(pb.Node.fromPartial({ nodeId: "there", address: "embedded" }), api);
    t = 1e9;
    expect(table.silent(1_000)).toEqual(["there"]);
  });
});

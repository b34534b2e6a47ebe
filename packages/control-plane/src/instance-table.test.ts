import { isEnded } from "@wasmatrix/core";
import * as pb from "@wasmatrix/proto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InstanceTable } from "./instance-table.js";

describe("InstanceTable", () => {
  it("keeps each node's instances and active count equal to a recount over the whole table", () => {
    const instanceIds = fc.constantFrom("i1", "i2", "i3", "i4", "i5");
    const nodeIds = fc.constantFrom("n1", "n2", "n3");
    const statuses = fc.constantFrom("running", "starting", "restarting", "stopped", "crashed", "lost");
    const operation = fc.oneof(
      fc.record({ instanceId: instanceIds, nodeId: nodeIds, status: statuses }),
      fc.record({ deleted: instanceIds }),
    );
    fc.assert(
      fc.property(fc.array(operation, { maxLength: 60 }), (operations) => {
        const heard = new Map<string, number>();
        const table = new InstanceTable((nodeId, active) => heard.set(nodeId, active));
        const model = new Map<string, pb.Instance>();
        for (const operation of operations) {
          if ("deleted" in operation) {
            table.delete(operation.deleted);
            model.delete(operation.deleted);
          } else {
            const instance = pb.Instance.fromPartial(operation);
            table.set(instance);
            model.set(instance.instanceId, instance);
          }
        }
        expect(table.size).toBe(model.size);
        for (const nodeId of ["n1", "n2", "n3"]) {
          const onNode = [...model.values()].filter((i) => i.nodeId === nodeId);
          const active = onNode.filter((i) => !isEnded(i.status)).length;
          expect(
            table
              .onNode(nodeId)
              .map((i) => i.instanceId)
              .sort(),
          ).toEqual(onNode.map((i) => i.instanceId).sort());
          expect(table.activeOn(nodeId)).toBe(active);
          expect(heard.get(nodeId) ?? 0).toBe(active);
        }
      }),
      { numRuns: 1_000 },
    );
  });
});

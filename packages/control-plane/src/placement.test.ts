import { ErrorCode, WasmatrixError } from "@wasmatrix/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Placement, type PlacementCandidate, type PlacementRequest, place } from "./placement.js";

const node = (nodeId: string, fields: Partial<PlacementCandidate> = {}): PlacementCandidate => ({
  nodeId,
  labels: {},
  capabilities: ["logging", "keyvalue", "http"],
  alive: true,
  instances: 0,
  ...fields,
});
const request = (fields: Partial<PlacementRequest> = {}): PlacementRequest => ({
  capabilities: [],
  required: {},
  preferred: {},
  ...fields,
});

function refusal(fn: () => unknown): WasmatrixError {
  try {
    fn();
  } catch (error) {
    if (WasmatrixError.is(error)) return error;
    throw error;
  }
  throw new Error("placement succeeded; it should have been refused");
}

describe("place()", () => {
  it("only picks a node that serves every capability the instance is assigned", () => {
    const nodes = [
      node("a", { capabilities: ["logging", "keyvalue"], instances: 0 }),
      node("b", { capabilities: ["logging", "keyvalue", "messaging"], instances: 5 }),
      node("c", { capabilities: ["logging", "http", "messaging"], instances: 9 }),
    ];
    expect(place(nodes, request({ capabilities: ["keyvalue"] }))).toBe("a");
    expect(place(nodes, request({ capabilities: ["messaging"] }))).toBe("b");
    expect(place(nodes, request({ capabilities: ["messaging", "http"] }))).toBe("c");
    const error = refusal(() => place(nodes, request({ capabilities: ["keyvalue", "http"] })));
    expect(error.code).toBe(ErrorCode.NODE_UNAVAILABLE);
    expect(error.details).toEqual({
      rejected: { a: "does not serve http", b: "does not serve http", c: "does not serve keyvalue" },
    });
  });

  it("only picks a node carrying every required label, and never a lost one", () => {
    const nodes = [
      node("a", { labels: { zone: "a", arch: "arm" } }),
      node("b", { labels: { zone: "b", arch: "x86" }, instances: 3 }),
      node("c", { labels: { zone: "b", arch: "arm" }, alive: false }),
    ];
    expect(place(nodes, request({ required: { zone: "b" } }))).toBe("b");
    expect(place(nodes, request({ required: { arch: "arm" } }))).toBe("a");
    const error = refusal(() => place(nodes, request({ required: { zone: "b", arch: "arm" } })));
    expect(error.details).toEqual({
      rejected: { a: "label zone=b missing", b: "label arch=arm missing", c: "node is lost" },
    });
  });

  it("prefers more matching preferred labels over a lighter load, then the lighter load, then the smaller id", () => {
    const nodes = [
      node("a", { labels: { zone: "a" }, instances: 10 }),
      node("b", { labels: { zone: "b", disk: "ssd" }, instances: 20 }),
      node("c", { labels: { zone: "b" }, instances: 1 }),
      node("d", { labels: { zone: "b" }, instances: 1 }),
    ];
    expect(place(nodes, request({ preferred: { zone: "a" } }))).toBe("a");
    expect(place(nodes, request({ preferred: { zone: "b", disk: "ssd" } }))).toBe("b");
    expect(place(nodes, request({ preferred: { zone: "b" } }))).toBe("c");
    expect(place([...nodes].reverse(), request({ preferred: { zone: "b" } }))).toBe("c");
    expect(place(nodes, request({ preferred: { zone: "z" } }))).toBe("c");
    expect(place(nodes, request())).toBe("c");
  });

  it("says so when there is no node at all", () => {
    const error = refusal(() => place([], request()));
    expect(error.code).toBe(ErrorCode.NODE_UNAVAILABLE);
    expect(error.message).toMatch(/no node is registered/);
    expect(error.details).toEqual({ rejected: {} });
  });

  it("keeps at most 20 reasons in a refusal, however many nodes were passed over", () => {
    const nodes = Array.from({ length: 1000 }, (_, i) => node(`n${i}`, { alive: false }));
    const error = refusal(() => place(nodes, request()));
    expect(Object.keys(error.details["rejected"] as object)).toHaveLength(20);
  });

  // The reference: filter, then sort by (preferred matches desc, instances asc, id asc).
  const labelValue = fc.constantFrom("a", "b", "c");
  const labels = fc.record({ zone: labelValue, arch: labelValue, disk: labelValue }, { requiredKeys: [] });
  const capabilities = fc.subarray(["logging", "keyvalue", "http", "messaging"]);
  const candidates = fc.uniqueArray(
    fc.record({
      nodeId: fc.stringMatching(/^n[0-9a-z]{1,4}$/),
      labels,
      capabilities,
      alive: fc.boolean(),
      instances: fc.nat({ max: 5 }),
      maxInstances: fc.nat({ max: 6 }),
    }),
    { selector: (n) => n.nodeId, maxLength: 12 },
  );
  const requests = fc.record({
    capabilities: fc.subarray(["keyvalue", "http", "messaging"], { maxLength: 2 }),
    required: labels,
    preferred: labels,
  });

  const isFull = (n: PlacementCandidate) => (n.maxInstances ?? 0) > 0 && n.instances >= n.maxInstances!;
  const fits = (n: PlacementCandidate, req: PlacementRequest) =>
    n.alive &&
    req.capabilities.every((c) => n.capabilities.includes(c)) &&
    Object.entries(req.required).every(([k, v]) => n.labels[k] === v);
  /** A refusal names the limit when some node would do but for being full. */
  const refusalCode = (nodes: PlacementCandidate[], req: PlacementRequest) =>
    nodes.some((n) => fits(n, req) && isFull(n)) ? ErrorCode.RESOURCE_EXHAUSTED : ErrorCode.NODE_UNAVAILABLE;

  function reference(nodes: PlacementCandidate[], req: PlacementRequest): string | null {
    const eligible = nodes.filter((n) => fits(n, req) && !isFull(n));
    const score = (n: PlacementCandidate) =>
      Object.entries(req.preferred).filter(([k, v]) => n.labels[k] === v).length;
    eligible.sort(
      (x, y) => score(y) - score(x) || x.instances - y.instances || (x.nodeId < y.nodeId ? -1 : 1),
    );
    return eligible[0]?.nodeId ?? null;
  }

  it("agrees with a sort-based reference on random clusters, in any order of candidates", () => {
    fc.assert(
      fc.property(candidates, requests, fc.func(fc.integer()), (nodes, req, key) => {
        const expected = reference(nodes, req);
        const shuffled = [...nodes].sort((x, y) => key(x.nodeId) - key(y.nodeId));
        for (const order of [nodes, shuffled]) {
          if (expected === null) {
            expect(refusal(() => place(order, req)).code).toBe(refusalCode(nodes, req));
          } else {
            expect(place(order, req)).toBe(expected);
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it("keeps agreeing with the reference while nodes come, change, get lost and go", () => {
    const nodeIds = fc.constantFrom("n1", "n2", "n3", "n4", "n5", "n6");
    const operation = fc.oneof(
      fc.record({
        op: fc.constant("set" as const),
        node: fc.record({
          nodeId: nodeIds,
          labels,
          capabilities,
          alive: fc.boolean(),
          instances: fc.nat({ max: 5 }),
          maxInstances: fc.nat({ max: 6 }),
        }),
      }),
      fc.record({ op: fc.constant("delete" as const), nodeId: nodeIds }),
      fc.record({ op: fc.constant("alive" as const), nodeId: nodeIds, alive: fc.boolean() }),
      fc.record({ op: fc.constant("load" as const), nodeId: nodeIds, instances: fc.nat({ max: 5 }) }),
      fc.record({ op: fc.constant("max" as const), nodeId: nodeIds, maxInstances: fc.nat({ max: 6 }) }),
    );
    fc.assert(
      fc.property(
        fc.array(operation, { maxLength: 40 }),
        requests,
        fc.option(nodeIds),
        (operations, req, sticky) => {
          const placement = new Placement();
          const model = new Map<string, PlacementCandidate>();
          for (const operation of operations) {
            if (operation.op === "set") {
              placement.set(operation.node);
              model.set(operation.node.nodeId, { ...operation.node });
            } else if (operation.op === "delete") {
              placement.delete(operation.nodeId);
              model.delete(operation.nodeId);
            } else if (operation.op === "alive") {
              placement.setAlive(operation.nodeId, operation.alive);
              const known = model.get(operation.nodeId);
              if (known !== undefined) known.alive = operation.alive;
            } else if (operation.op === "max") {
              placement.setMaxInstances(operation.nodeId, operation.maxInstances);
              const known = model.get(operation.nodeId);
              if (known !== undefined) known.maxInstances = operation.maxInstances;
            } else {
              placement.setInstances(operation.nodeId, operation.instances);
              const known = model.get(operation.nodeId);
              if (known !== undefined) known.instances = operation.instances;
            }
          }
          expect(placement.size).toBe(model.size);
          // The sticky node counts as unloaded when ranking, but a full one is still passed over.
          const nodes = [...model.values()].filter((n) => !(n.nodeId === sticky && isFull(n)));
          const ranked = nodes.map((n) => (n.nodeId === sticky ? { ...n, instances: -1 } : n));
          const expected = reference(ranked, req);
          if (expected === null) {
            expect(refusal(() => placement.place(req, sticky ?? undefined)).code).toBe(
              refusalCode([...model.values()], req),
            );
          } else {
            expect(placement.place(req, sticky ?? undefined)).toBe(expected);
          }
        },
      ),
      { numRuns: 1_000 },
    );
  });

  it("never chooses a full node, whatever the load, labels or stickiness of the others", () => {
    fc.assert(
      fc.property(
        candidates,
        requests,
        fc.option(fc.stringMatching(/^n[0-9a-z]{1,4}$/)),
        (nodes, req, sticky) => {
          const placement = new Placement(nodes);
          let chosen: string | null = null;
          try {
            chosen = placement.place(req, sticky ?? undefined);
          } catch (error) {
            expect(WasmatrixError.is(error)).toBe(true);
          }
          if (chosen !== null) expect(isFull(nodes.find((n) => n.nodeId === chosen)!)).toBe(false);
        },
      ),
      { numRuns: 1_000 },
    );
  });

  it("passes over a full node, says why, and refuses with RESOURCE_EXHAUSTED when every fitting node is full", () => {
    const placement = new Placement([
      node("a", { instances: 3, maxInstances: 3 }),
      node("b", { instances: 7, maxInstances: 10 }),
      node("c", { instances: 0, capabilities: ["logging"] }),
    ]);
    expect(placement.place(request({ capabilities: ["keyvalue"] }))).toBe("b");
    placement.setInstances("b", 10);
    const error = refusal(() => placement.place(request({ capabilities: ["keyvalue"] })));
    expect(error.code).toBe(ErrorCode.RESOURCE_EXHAUSTED);
    expect(error.message).toMatch(/full.*add a node.*runtime shards.*stop instances/);
    expect(error.details).toMatchObject({
      reason: "capacity",
      fullNodes: 2,
      rejected: {
        a: "node is full: 3 of 3 instances",
        b: "node is full: 10 of 10 instances",
        c: "does not serve keyvalue",
      },
    });
    placement.setMaxInstances("b", 0);
    expect(placement.place(request({ capabilities: ["keyvalue"] }))).toBe("b");
    placement.setInstances("a", 2);
    expect(placement.place(request({ capabilities: ["keyvalue"] }))).toBe("a");
  });

  it("places among more nodes than one growth step holds, and forgets label values no node has", () => {
    const placement = new Placement(
      Array.from({ length: 100 }, (_, i) =>
        node(`n${String(i).padStart(3, "0")}`, { labels: { host: `h${i}` }, instances: 100 - i }),
      ),
    );
    expect(placement.place(request())).toBe("n099");
    expect(placement.place(request({ required: { host: "h42" } }))).toBe("n042");
    placement.delete("n042");
    expect(refusal(() => placement.place(request({ required: { host: "h42" } }))).code).toBe(
      ErrorCode.NODE_UNAVAILABLE,
    );
    const labels = (placement as unknown as { labels: Map<string, Map<string, unknown>> }).labels;
    expect(labels.get("host")?.has("h42")).toBe(false);
    expect(labels.get("host")?.size).toBe(99);
  });
});

import { randomBytes } from "node:crypto";
import { ErrorCode } from "@wasmatrix/core";
import { rejection } from "@wasmatrix/core/test-support/expect-code";
import * as pb from "@wasmatrix/proto";
import { digestOf } from "@wasmatrix/runtime";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ControlPlane } from "./control-plane.js";

/** A node that answers starts the way a node agent does: the digest of the bytes it was sent. */
class Node implements pb.NodeAgentApi {
  readonly starts: pb.StartInstanceRequest[] = [];
  constructor(readonly nodeId: string) {}
  async startInstance(request: pb.StartInstanceRequest): Promise<pb.Instance> {
    this.starts.push(request);
    return pb.Instance.fromPartial({
      instanceId: request.instanceId,
      nodeId: this.nodeId,
      status: "running",
      kind: "reactor",
      moduleDigest: request.module.byteLength > 0 ? digestOf(request.module) : request.moduleDigest,
      restartPolicy: request.restartPolicy,
    });
  }
  async stopInstance(request: pb.StopInstanceRequest): Promise<pb.Instance> {
    return pb.Instance.fromPartial({
      instanceId: request.instanceId,
      nodeId: this.nodeId,
      status: "stopped",
    });
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

/** A valid module of about `size` bytes, told apart from others by `tag`: a custom section only. */
function validModule(tag: number, size: number): Buffer {
  const name = Buffer.from(`pad${tag}`);
  const body = Buffer.concat([Buffer.from([name.length]), name, Buffer.alloc(size)]);
  return Buffer.concat([Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 0]), leb128(body.length), body]);
}

function leb128(n: number): Buffer {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return Buffer.from(out);
}

function cluster(moduleCacheBytes: number) {
  const cp = new ControlPlane({ moduleCacheBytes, maxModuleBytes: 1024 * 1024 });
  const a = new Node("na");
  const b = new Node("nb");
  cp.registerNode(pb.Node.fromPartial({ nodeId: "na", address: "10.0.0.1:7401", labels: { zone: "a" } }), a);
  cp.registerNode(pb.Node.fromPartial({ nodeId: "nb", address: "10.0.0.2:7401", labels: { zone: "b" } }), b);
  return { cp, a, b };
}

const always = { policy: { $case: "always" as const, value: {} } };
const onA = { preferredNodeLabels: { zone: "a" } };

describe("the control plane's module store", () => {
  it("refuses invalid modules before keeping them, so they never push out the module a lost instance needs", async () => {
    const { cp, b } = cluster(4 * 1024 * 1024);
    const keeper = validModule(0, 100_000);
    await cp.startInstance(
      pb.StartInstanceRequest.fromPartial({
        instanceId: "keeper",
        module: keeper,
        restartPolicy: always,
        ...onA,
      }),
    );
    for (let i = 0; i < 30; i++) {
      const error = await rejection(
        cp.startInstance(
          pb.StartInstanceRequest.fromPartial({
            instanceId: `junk-${i}`,
            module: randomBytes(1024 * 1024),
            ...onA,
          }),
        ),
      );
      expect(error.code).toBe(ErrorCode.INVALID_MODULE);
    }
    await cp.nodeLost("na");
    const moved = b.starts.find((s) => s.instanceId === "keeper");
    expect(moved?.module.equals(keeper)).toBe(true);
  });

  it("refuses a module over the size cap as MODULE_TOO_LARGE before validating it", async () => {
    const { cp, a } = cluster(4 * 1024 * 1024);
    const error = await rejection(
      cp.startInstance(pb.StartInstanceRequest.fromPartial({ module: validModule(1, 2 * 1024 * 1024) })),
    );
    expect(error.code).toBe(ErrorCode.MODULE_TOO_LARGE);
    expect(a.starts).toHaveLength(0);
  });

  it("keeps the module of every live `always` instance, whatever other modules come and go", async () => {
    // Starts of modules that fill the store many times over, stops, and junk, in any order: when
    // the node dies, every `always` instance still running moves with its module's bytes.
    const step = fc.oneof(
      fc.record({
        kind: fc.constant("start" as const),
        tag: fc.nat({ max: 12 }),
        size: fc.integer({ min: 1, max: 30_000 }),
      }),
      fc.record({ kind: fc.constant("stop" as const), tag: fc.nat({ max: 12 }) }),
      fc.record({
        kind: fc.constant("junk" as const),
        bytes: fc.uint8Array({ minLength: 8, maxLength: 30_000 }),
      }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 30 }), async (steps) => {
        const { cp, b } = cluster(64 * 1024);
        const live = new Map<string, Buffer>();
        for (const s of steps) {
          if (s.kind === "start") {
            const id = `i${s.tag}`;
            if (live.has(id)) continue;
            const module = validModule(s.tag * 1000 + s.size, s.size);
            await cp.startInstance(
              pb.StartInstanceRequest.fromPartial({ instanceId: id, module, restartPolicy: always, ...onA }),
            );
            live.set(id, module);
          } else if (s.kind === "stop") {
            const id = `i${s.tag}`;
            if (!live.has(id)) continue;
            await cp.stopInstance({ instanceId: id, deadlineMs: 0 });
            live.delete(id);
          } else {
            await cp
              .startInstance(pb.StartInstanceRequest.fromPartial({ module: Buffer.from(s.bytes), ...onA }))
              .then(
                () => expect.fail("junk was accepted"),
                () => undefined,
              );
          }
        }
        await cp.nodeLost("na");
        for (const [id, module] of live) {
          const moved = b.starts.find((start) => start.instanceId === id);
          expect(moved?.module.equals(module), id).toBe(true);
        }
      }),
      { numRuns: 100 },
    );
  });
});

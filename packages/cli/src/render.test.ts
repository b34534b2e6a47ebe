import type * as pb from "@wasmatrix/proto";
import { restartPolicyToProto } from "@wasmatrix/proto";
import { describe, expect, it } from "vitest";
import { restartPolicyText } from "./json.js";
import { factLine, instancesTable, outcomeText, shortDigest } from "./render.js";

const digest = `sha256:${"ab12".repeat(16)}`;

function instance(fields: Partial<pb.Instance>): pb.Instance {
  return {
    instanceId: "echo",
    moduleDigest: digest,
    nodeId: "node-1",
    status: "running",
    kind: "reactor",
    restartPolicy: undefined,
    assignments: [],
    restarts: 0,
    lastOutcome: undefined,
    createdAtMs: 1_000,
    updatedAtMs: 1_000,
    labels: {},
    limits: undefined,
    args: [],
    env: {},
    requiredNodeLabels: {},
    preferredNodeLabels: {},
    ...fields,
  };
}

describe("rendering", () => {
  it("shortens a digest to its first 12 hex digits", () => {
    expect(shortDigest(digest)).toBe("ab12ab12ab12");
  });

  it("lists instances with their age measured from creation", () => {
    const out = instancesTable([instance({ restarts: 2 })], 61_000);
    expect(out).toBe(
      "ID    STATUS   KIND     NODE    RESTARTS  AGE  DIGEST\n" +
        "echo  running  reactor  node-1         2  1m   ab12ab12ab12\n",
    );
  });

  it("prints a fact as seq, time, kind, instance and data on one line", () => {
    const line = factLine({
      seq: 7,
      source: "node-1",
      sourceSeq: 3,
      kind: "capability.revoked",
      instanceId: "echo",
      nodeId: "node-1",
      atMs: Date.UTC(2025, 0, 2, 3, 4, 5, 6),
      dataJson: '{"capability":"keyvalue"}',
    });
    expect(line).toMatch(
      /^7 {6}2025-01-02T03:04:05\.006Z {2}capability\.revoked +echo +\{"capability":"keyvalue"\}$/,
    );
  });

  it("describes a crash by its reason, and an exit by its code", () => {
    const base = { trap: "", metering: undefined };
    expect(outcomeText({ ...base, status: "crashed", reason: "exit", exitCode: 3 })).toBe("crashed: exit(3)");
    expect(
      outcomeText({ ...base, status: "crashed", reason: "unreachable", exitCode: 0, trap: "wasm trap" }),
    ).toBe("crashed: unreachable: wasm trap");
  });

  it("writes restart policies in the form --restart reads back", () => {
    expect(restartPolicyText(undefined)).toBe("never");
    expect(restartPolicyText(restartPolicyToProto({ kind: "always" }))).toBe("always");
    const text = restartPolicyText(
      restartPolicyToProto({
        kind: "backoff",
        initialMs: 200,
        maxMs: 10_000,
        multiplier: 2,
        jitter: 0,
        resetAfterMs: 60_000,
        maxRestarts: 5,
      }),
    );
    expect(text).toBe("backoff:initial=200ms,max=10s,multiplier=2,jitter=0,reset=1m,max-restarts=5");
  });
});

import { FACT_KINDS } from "@wasmatrix/core";
import type * as pb from "@wasmatrix/proto";
import { restartPolicyToProto } from "@wasmatrix/proto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { restartPolicyText } from "./json.js";
import { factHeader, factLine, instancesTable, outcomeText, shortDigest } from "./render.js";

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
    tenant: "",
    deniedCalls: 0,
    extism: undefined,
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

  it("prints a fact as seq, time, kind, instance, node and data on one line, under the header's columns", () => {
    const line = factLine({
      seq: 7,
      source: "node-1",
      sourceSeq: 3,
      kind: "capability.revoked",
      instanceId: "echo",
      nodeId: "node-1",
      atMs: Date.UTC(2025, 0, 2, 3, 4, 5, 6),
      dataJson: '{"capability":"keyvalue"}',
      tenant: "",
    });
    expect(line).toMatch(
      /^7 {8}2025-01-02T03:04:05\.006Z {2}capability\.revoked +echo +node-1 +\{"capability":"keyvalue"\}$/,
    );
    expect(factHeader()).toMatch(/^SEQ +TIME +KIND +INSTANCE +NODE +DATA$/);
  });

  it("keeps every field of a fact line under its header, whatever the ids and kinds", () => {
    const id = fc.stringMatching(/^[a-z][a-z0-9-]{0,62}$/);
    fc.assert(
      fc.property(
        fc.nat({ max: 9_999_999 }),
        fc.constantFrom(...FACT_KINDS),
        fc.option(id),
        fc.option(id),
        (seq, kind, instanceId, nodeId) => {
          const line = factLine({
            seq,
            source: "s",
            sourceSeq: 1,
            kind,
            instanceId: instanceId ?? "",
            nodeId: nodeId ?? "",
            atMs: Date.UTC(2025, 0, 2),
            tenant: "",
            dataJson: '{"a":1}',
          });
          const header = factHeader();
          // Each field starts where its header does.
          for (const title of ["TIME", "KIND", "INSTANCE", "NODE", "DATA"]) {
            const at = header.indexOf(title);
            expect(line[at - 1], `${title} in ${line}`).toBe(" ");
            expect(line[at - 2], `${title} in ${line}`).toBe(" ");
            expect(line[at], `${title} in ${line}`).not.toBe(" ");
          }
        },
      ),
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

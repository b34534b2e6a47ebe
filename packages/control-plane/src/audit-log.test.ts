import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ANONYMOUS, ErrorCode, GENESIS_HASH, verifyAuditChain } from "@wasmatrix/core";
import { silentLogger } from "@wasmatrix/core/logger";
import { rejection } from "@wasmatrix/core/test-support/expect-code";
import * as pb from "@wasmatrix/proto";
import { describe, expect, it } from "vitest";
import { AuditLog } from "./audit-log.js";
import { ControlPlane } from "./control-plane.js";
import { RegisteredNodes } from "./registered-nodes.js";

/** The audit log on a real file in a temporary directory. */

const fileIn = async () => join(await mkdtemp(join(tmpdir(), "wasmatrix-audit-")), "audit.jsonl");
const entry = (target: string) => ({
  caller: ANONYMOUS,
  action: "instance.start",
  target,
  outcome: "ok" as const,
});

describe("the audit log file", () => {
  it("chains every append to the one before, from the genesis hash", async () => {
    const log = new AuditLog(await fileIn());
    for (const target of ["a", "b", "c"]) await log.append(entry(target));
    const text = await readFile(log.path, "utf8");
    expect(verifyAuditChain(text)).toMatchObject({ ok: true, entries: 3 });
    const { entries } = await log.read();
    expect(entries.map((e) => [e.seq, e.target, e.who])).toEqual([
      [1, "a", "anonymous"],
      [2, "b", "anonymous"],
      [3, "c", "anonymous"],
    ]);
    expect(entries[0]!.prev).toBe(GENESIS_HASH);
  });

  it("goes on with the chain of an earlier run (a restart)", async () => {
    const path = await fileIn();
    await new AuditLog(path).append(entry("before"));
    await new AuditLog(path).append(entry("after"));
    expect(verifyAuditChain(await readFile(path, "utf8"))).toMatchObject({ ok: true, entries: 2 });
  });

  it("moves a torn last line aside, says so, and chains onto the last complete one", async () => {
    const path = await fileIn();
    const warnings: string[] = [];
    const logger = { warn: (_: unknown, message: string) => warnings.push(message) } as never;
    await new AuditLog(path).append(entry("whole"));
    await writeFile(path, '{"seq":2,"at":17000', { flag: "a" });
    expect(verifyAuditChain(await readFile(path, "utf8"))).toMatchObject({ ok: false, line: 2 });
    await new AuditLog(path, { logger }).append(entry("next"));
    expect(verifyAuditChain(await readFile(path, "utf8"))).toMatchObject({ ok: true, entries: 2 });
    expect(await readFile(`${path}.torn`, "utf8")).toBe('{"seq":2,"at":17000\n');
    expect(warnings.join()).toContain("torn");
  });

  it("keeps one valid chain when two logs append to one file at once", async () => {
    const path = await fileIn();
    const [a, b] = [new AuditLog(path), new AuditLog(path)];
    await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).append(entry(`i${i}`))));
    expect(verifyAuditChain(await readFile(path, "utf8"))).toMatchObject({ ok: true, entries: 20 });
  });

  it("filters by tenant, time and count, newest last", async () => {
    let now = 1_000;
    const log = new AuditLog(await fileIn(), { now: () => now });
    for (const [target, tenant] of [
      ["a", "acme"],
      ["b", "other"],
      ["c", "acme"],
      ["d", "acme"],
    ] as const) {
      now += 10;
      await log.append({ ...entry(target), tenant });
    }
    const targets = async (filter: Parameters<AuditLog["read"]>[0]) =>
      (await log.read(filter)).entries.map((e) => e.target);
    expect(await targets({ tenant: "acme" })).toEqual(["a", "c", "d"]);
    expect(await targets({ sinceMs: 1_030 })).toEqual(["c", "d"]);
    expect(await targets({ tenant: "acme", limit: 2 })).toEqual(["c", "d"]);
  });
});

describe("the control plane's audit", () => {
  it("records a refused start with its code and reason, and answers ReadAudit", async () => {
    const auditLog = new AuditLog(await fileIn());
    const controlPlane = new ControlPlane({ auditLog, trustedKeys: new Map() });
    const refused = await rejection(
      controlPlane.startInstance(
        pb.StartInstanceRequest.fromPartial({ instanceId: "x", module: Buffer.from("junk") }),
      ),
    );
    expect(refused.code).toBe(ErrorCode.MODULE_SIGNATURE_INVALID);
    const { entries, enabled } = await controlPlane.readAudit({ tenant: "", sinceMs: 0, limit: 0 });
    expect(enabled).toBe(true);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      action: "instance.start",
      target: "x",
      outcome: "refused",
      who: "anonymous",
    });
    expect(JSON.parse(entries[0]!.detailsJson)).toMatchObject({
      code: "MODULE_SIGNATURE_INVALID",
      reason: "unsigned",
    });
  });

  it("records a refused node registration", async () => {
    const auditLog = new AuditLog(await fileIn());
    const controlPlane = new ControlPlane({ auditLog });
    const { hooks } = new RegisteredNodes(controlPlane, silentLogger);
    const node = pb.Node.fromPartial({ nodeId: "old-node", address: "127.0.0.1:1" });
    const refused = await rejection(hooks.registerNode({ node, protocolVersion: "99.0" }));
    expect(refused.code).toBe(ErrorCode.INCOMPATIBLE_VERSION);
    const { entries } = await controlPlane.readAudit({ tenant: "", sinceMs: 0, limit: 0 });
    expect(entries.map((e) => [e.action, e.target, e.outcome])).toEqual([
      ["node.register", "old-node", "refused"],
    ]);
  });

  it("says it keeps no audit log when it has none", async () => {
    expect(await new ControlPlane().readAudit({ tenant: "", sinceMs: 0, limit: 0 })).toEqual({
      entries: [],
      head: "",
      enabled: false,
    });
  });
});

import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cli, startUp, type Up } from "../support/up.js";

/**
 * With --auth, the audit log also records token changes and every call refused before its
 * handler, with who: the token's id, never the token itself.
 */

interface Entry {
  who: string;
  action: string;
  target: string;
  outcome: string;
  details: Record<string, unknown>;
}

describe("the audit log of a server with --auth", () => {
  let up: Up;
  let stateDir: string;
  let admin: string;
  const as = (token: string, ...args: string[]) => cli(up.server, args, { WASMATRIX_TOKEN: token });

  beforeAll(async () => {
    stateDir = mkdtempSync(join(tmpdir(), "wasmatrix-audit-auth-"));
    up = await startUp(["--auth", "--state-dir", stateDir]);
    admin = readFileSync(join(stateDir, "admin.token"), "utf8").trim();
  }, 60_000);
  afterAll(async () => {
    await up?.stop();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it("records a token's creation and revocation by who did them, without the secret", async () => {
    const created = await as(admin, "token", "create", "--role", "reader", "--json");
    expect(created.code, created.stderr).toBe(0);
    const { token, tokenId } = JSON.parse(created.stdout) as { token: string; tokenId: string };
    expect((await as(admin, "token", "revoke", tokenId)).code).toBe(0);

    const entries = JSON.parse((await as(admin, "audit", "--json")).stdout) as Entry[];
    const create = entries.find((e) => e.action === "token.create");
    expect(create).toMatchObject({ outcome: "ok", details: { tokenId, role: "reader" } });
    expect(create?.who).toMatch(/^token:/);
    expect(entries).toContainEqual(
      expect.objectContaining({ action: "token.revoke", target: tokenId, outcome: "ok" }),
    );
    expect(readFileSync(join(stateDir, "audit.jsonl"), "utf8")).not.toContain(token);
  });

  it("records calls refused for a missing token or a role that may not make them", async () => {
    expect((await cli(up.server, ["ps"])).code).not.toBe(0);
    const reader = JSON.parse((await as(admin, "token", "create", "--role", "reader", "--json")).stdout) as {
      token: string;
      tokenId: string;
    };
    expect((await as(reader.token, "stop", "nothing")).code).not.toBe(0);

    const entries = JSON.parse((await as(admin, "audit", "--json")).stdout) as Entry[];
    const refused = entries.filter((e) => e.action === "call.refused");
    expect(refused).toContainEqual(
      expect.objectContaining({
        who: "anonymous",
        target: "/wasmatrix.v1.ControlPlane/ListInstances",
        details: expect.objectContaining({ code: "UNAUTHENTICATED" }),
      }),
    );
    expect(refused).toContainEqual(
      expect.objectContaining({
        who: `token:${reader.tokenId}`,
        target: "/wasmatrix.v1.ControlPlane/StopInstance",
        details: expect.objectContaining({ code: "PERMISSION_DENIED" }),
      }),
    );
  });
});

import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { connect, listRequest } from "@wasmatrix/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Daemon, freePort, spawnDaemon, untilServing, waitFor } from "../cluster/harness.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = join(ROOT, "packages/cli/bin/wasmatrix.js");

function cli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("WASMATRIX_")));
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: ROOT, env: { ...clean, ...env } },
      (error, stdout, stderr) =>
        resolve({ code: error === null ? 0 : ((error as { code?: number }).code ?? 1), stdout, stderr }),
    );
  });
}

/** `wasmatrix control-plane --auth` and node agents as real processes, driven by the real CLI. */
describe("a control plane started with --auth", () => {
  let stateDir: string;
  let cp: Daemon;
  let admin: string;
  const daemons: Daemon[] = [];

  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), "wasmatrix-cp-auth-"));
    const address = `127.0.0.1:${await freePort()}`;
    cp = spawnDaemon("control-plane", address, [
      "control-plane",
      "--listen",
      address,
      "--auth",
      "--state-dir",
      stateDir,
      "--heartbeat-interval",
      "300ms",
    ]);
    daemons.push(cp);
    const tokenFile = join(stateDir, "admin.token");
    await untilServing(cp, () => stat(tokenFile));
    admin = (await readFile(tokenFile, "utf8")).trim();
    const client = connect(address, { timeoutMs: 2_000, token: admin });
    await untilServing(cp, () => client.serverInfo());
    client.close();
  }, 60_000);
  afterAll(async () => {
    for (const d of daemons) await d.kill("SIGKILL");
    await rm(stateDir, { recursive: true, force: true });
  });

  it("writes the first admin token with mode 0600 and says where in its log", async () => {
    expect((await stat(join(stateDir, "admin.token"))).mode & 0o777).toBe(0o600);
    expect((await stat(join(stateDir, "token-signing.key"))).mode & 0o777).toBe(0o600);
    await waitFor("the log line naming the admin token", async () =>
      cp.stderr().includes("admin.token") ? true : undefined,
    );
  });

  it("refuses a command without a token with a hint, and serves it with one", async () => {
    const refused = await cli(["ps", "--server", cp.address]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("UNAUTHENTICATED");
    expect(refused.stderr).toContain("hint: pass --token or set WASMATRIX_TOKEN");
    const served = await cli(["ps", "--server", cp.address, "--json"], { WASMATRIX_TOKEN: admin });
    expect(served.stderr).toBe("");
    expect(JSON.parse(served.stdout)).toEqual([]);
  }, 60_000);

  it("creates a token that is printed alone, lists it without the secret, and revokes it", async () => {
    const created = await cli([
      "token",
      "create",
      "--role",
      "reader",
      "--tenant",
      "shop",
      "--expires",
      "30d",
      "--server",
      cp.address,
      "--token",
      admin,
    ]);
    expect(created.code, created.stderr).toBe(0);
    const token = created.stdout.trim();
    expect(created.stdout).toBe(`${token}\n`);
    expect(token.split(".")).toHaveLength(3);
    const listed = await cli(["token", "list", "--json", "--server", cp.address], { WASMATRIX_TOKEN: admin });
    const tokens = JSON.parse(listed.stdout) as { tokenId: string; role: string; tenant: string | null }[];
    expect(listed.stdout).not.toContain(token);
    const mine = tokens.find((t) => t.role === "reader" && t.tenant === "shop");
    expect(mine).toBeDefined();
    const reader = await cli(["ps", "--server", cp.address], { WASMATRIX_TOKEN: token });
    expect(reader.code, reader.stderr).toBe(0);
    const denied = await cli(["token", "list", "--server", cp.address], { WASMATRIX_TOKEN: token });
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain("PERMISSION_DENIED");
    const revoked = await cli(["token", "revoke", mine!.tokenId, "--server", cp.address], {
      WASMATRIX_TOKEN: admin,
    });
    expect(revoked.code, revoked.stderr).toBe(0);
    const after = await cli(["ps", "--server", cp.address], { WASMATRIX_TOKEN: token });
    expect(after.code).toBe(1);
    expect(after.stderr).toContain("revoked");
  }, 90_000);

  it("lets a node agent register only with a token", async () => {
    const without = `127.0.0.1:${await freePort()}`;
    const anonymous = spawnDaemon("node-agent anon", without, [
      "node-agent",
      "--listen",
      without,
      "--node-id",
      "anon",
      "--control-plane",
      cp.address,
    ]);
    daemons.push(anonymous);
    await waitFor(
      "the anonymous node's refusal in its log",
      async () => (anonymous.stderr().includes("UNAUTHENTICATED") ? true : undefined),
      { timeoutMs: 30_000 },
    );
    const withToken = `127.0.0.1:${await freePort()}`;
    daemons.push(
      spawnDaemon("node-agent n1", withToken, [
        "node-agent",
        "--listen",
        withToken,
        "--node-id",
        "n1",
        "--control-plane",
        cp.address,
        "--token",
        admin,
      ]),
    );
    const client = connect(cp.address, { timeoutMs: 2_000, token: admin });
    try {
      const nodes = await waitFor(
        "node n1 alive",
        async () => {
          const { nodes } = await client.listNodes();
          return nodes.some((n) => n.nodeId === "n1" && n.status === "alive") ? nodes : undefined;
        },
        { timeoutMs: 30_000 },
      );
      expect(nodes.map((n) => n.nodeId)).not.toContain("anon");
      expect((await client.listInstances(listRequest())).instances).toEqual([]);
    } finally {
      client.close();
    }
  }, 90_000);
});

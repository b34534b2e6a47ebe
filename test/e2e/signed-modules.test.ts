import { execFile } from "node:child_process";
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { connect } from "@wasmatrix/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Daemon, spawnDaemon, untilServing } from "../cluster/harness.js";
import { freePort } from "../support/ports.js";

/**
 * Signed modules and the audit log end to end: `wasmatrix up --trusted-keys DIR --state-dir D`
 * as a real process, and `keys`, `sign`, `start`, `audit` and `audit verify` as the CLI a person
 * runs. The module's last byte sits in a custom section: flipped, the module still validates,
 * so only its signature can tell.
 */

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = join(ROOT, "packages/cli/bin/wasmatrix.js");
const ECHO = join(ROOT, "examples/build/echo_reactor.wasm");
const CLI_TIMEOUT_MS = 30_000;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(server: string, ...args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: ROOT, env: { ...process.env, WASMATRIX_SERVER: server }, timeout: CLI_TIMEOUT_MS },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

interface AuditJson {
  seq: number;
  who: string;
  action: string;
  target: string;
  outcome: string;
  details: Record<string, unknown>;
}

describe("wasmatrix up --trusted-keys with signed modules and the audit log", () => {
  let dir: string;
  let stateDir: string;
  let trusted: string;
  let server: string;
  let up: Daemon;
  const run = (...args: string[]) => cli(server, ...args);
  const module = (name: string) => join(dir, name);

  async function startUp(): Promise<Daemon> {
    const daemon = spawnDaemon("up", server, [
      "up",
      "--listen",
      server,
      "--trusted-keys",
      trusted,
      "--state-dir",
      stateDir,
      "--http",
      "off",
      "--metrics",
      "off",
      "--log-level",
      "warn",
    ]);
    const client = connect(server, { timeoutMs: 2_000 });
    try {
      await untilServing(daemon, () => client.serverInfo());
    } finally {
      client.close();
    }
    return daemon;
  }

  async function audit(): Promise<AuditJson[]> {
    const result = await run("audit", "--json");
    expect(result.code, result.stderr).toBe(0);
    return JSON.parse(result.stdout) as AuditJson[];
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "wasmatrix-signed-"));
    stateDir = join(dir, "state");
    trusted = join(dir, "trusted");
    await mkdir(trusted);
    server = `127.0.0.1:${await freePort()}`;
    for (const key of ["release", "stranger"]) {
      const made = await run("keys", "generate", "--out", join(dir, key));
      expect(made.code, made.stderr).toBe(0);
    }
    await copyFile(join(dir, "release.pub"), join(trusted, "release.pub"));
    for (const name of ["signed.wasm", "flipped.wasm", "unsigned.wasm", "stranger.wasm"]) {
      await copyFile(ECHO, module(name));
    }
    for (const [name, key] of [
      ["signed.wasm", "release"],
      ["stranger.wasm", "stranger"],
    ] as const) {
      const signed = await run("sign", module(name), "--key", join(dir, `${key}.key`));
      expect(signed.code, signed.stderr).toBe(0);
    }
    // A valid signature of the original, beside a copy with one byte flipped.
    await copyFile(module("signed.wasm.sig"), module("flipped.wasm.sig"));
    const bytes = await readFile(module("flipped.wasm"));
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0x01;
    await writeFile(module("flipped.wasm"), bytes);
    up = await startUp();
  }, 120_000);

  afterAll(async () => {
    await up?.kill("SIGKILL");
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it("writes the private key with mode 0600, and never over an existing one without --force", async () => {
    const { stat } = await import("node:fs/promises");
    expect((await stat(join(dir, "release.key"))).mode & 0o777).toBe(0o600);
    const before = await readFile(join(dir, "release.key"), "utf8");
    const again = await run("keys", "generate", "--out", join(dir, "release"));
    expect(again.code).toBe(2);
    expect(again.stderr).toContain("exists already");
    expect(await readFile(join(dir, "release.key"), "utf8")).toBe(before);
  });

  it("runs a module signed by a trusted key", async () => {
    const started = await run("start", module("signed.wasm"), "--id", "signed", "--json");
    expect(started.code, started.stderr).toBe(0);
    expect(JSON.parse(started.stdout)).toMatchObject({ instanceId: "signed", status: "running" });
    const invoked = await run("invoke", "signed", "upper", "--data", "hi");
    expect(invoked.stdout).toContain("HI");
  });

  it("refuses a module with one byte flipped, its valid signature beside it", async () => {
    const refused = await run("start", module("flipped.wasm"), "--id", "flipped");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("MODULE_SIGNATURE_INVALID");
    expect(refused.stderr).toContain("changed after it was signed");
  });

  it("refuses an unsigned module", async () => {
    const refused = await run("start", module("unsigned.wasm"), "--id", "unsigned");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("MODULE_SIGNATURE_INVALID");
    expect(refused.stderr).toContain("without a signature");
  });

  it("refuses a module signed by a key that is not in the trusted directory", async () => {
    const refused = await run("start", module("stranger.wasm"), "--id", "stranger");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("MODULE_SIGNATURE_INVALID");
    expect(refused.stderr).toContain("does not trust");
  });

  it("`run --trusted-keys` runs the signed module and refuses the flipped one before compiling it", async () => {
    const ok = await run(
      "run",
      module("signed.wasm"),
      "--invoke",
      "upper",
      "--data",
      "hi",
      "--trusted-keys",
      trusted,
    );
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toBe("HI");
    const refused = await run("run", module("flipped.wasm"), "--invoke", "upper", "--trusted-keys", trusted);
    expect(refused.code).toBe(125);
    expect(refused.stderr).toContain("MODULE_SIGNATURE_INVALID");
  });

  it("records each start and refusal in the audit log, with who and why", async () => {
    const starts = (await audit()).filter((e) => e.action === "instance.start");
    expect(starts.map((e) => [e.target, e.outcome, e.details["reason"]])).toEqual([
      ["signed", "ok", undefined],
      ["flipped", "refused", "digest_mismatch"],
      ["unsigned", "refused", "unsigned"],
      ["stranger", "refused", "untrusted_key"],
    ]);
    expect(starts.every((e) => e.who === "anonymous")).toBe(true);
  });

  it("continues the chain across a restart, and `audit verify` holds it", async () => {
    const before = await audit();
    const { code } = await up.kill("SIGTERM");
    expect(code).toBe(0);
    up = await startUp();
    const stopped = await run("start", module("signed.wasm"), "--id", "again");
    expect(stopped.code, stopped.stderr).toBe(0);
    const after = await audit();
    expect(after.length).toBeGreaterThan(before.length);
    expect(after.map((e) => e.seq)).toEqual(after.map((_, i) => i + 1));
    const verified = await run("audit", "verify", "--state-dir", stateDir);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
    expect(verified.stdout).toContain(`${after.length} entries; the chain holds`);
  }, 60_000);

  it("names the edited line when one line of the file is changed, and exits 1", async () => {
    const lines = (await readFile(join(stateDir, "audit.jsonl"), "utf8")).split("\n");
    const target = lines.findIndex((line) => line.includes('"target":"unsigned"'));
    expect(target).toBeGreaterThan(0);
    lines[target] = lines[target]!.replace('"outcome":"refused"', '"outcome":"ok"');
    const edited = join(dir, "edited.jsonl");
    await writeFile(edited, lines.join("\n"));
    const verdict = await run("audit", "verify", "--file", edited);
    expect(verdict.code).toBe(1);
    expect(verdict.stdout).toContain(`line ${target + 1} is broken`);
  });
});

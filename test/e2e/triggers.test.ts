import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CliResult, ROOT, startUp, type Up } from "../support/up.js";

/**
 * Triggers end to end: `wasmatrix up` as a real child process, `wasmatrix trigger …` as separate
 * processes. A seconds-resolution cron trigger fires on the clock; a queue trigger receives what a
 * guest publishes on the in-process bus (no NATS).
 */

const ECHO = join(ROOT, "examples/build/echo_reactor.wasm");
const HAVE_ECHO = existsSync(ECHO);
if (!HAVE_ECHO) {
  console.warn(
    `skipping the triggers end-to-end test: ${ECHO} is missing; build it with: npm run build:examples`,
  );
}

function json<T = unknown>(result: CliResult): T {
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as T;
}

describe.skipIf(!HAVE_ECHO)("triggers against `wasmatrix up`", () => {
  let up: Up;
  const run = (...args: string[]) => up.run(...args);

  beforeAll(async () => {
    up = await startUp();
    expect(JSON.parse((await run("info", "--json")).stdout)).toMatchObject({ mode: "embedded" });
  }, 60_000);

  afterAll(async () => {
    if (up === undefined) return;
    expect(await up.stop(), up.stderr()).toBe(0);
  });

  const firings = async () => {
    const events = await run("events", "--json");
    expect(events.code).toBe(0);
    return events.stdout
      .trim()
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => JSON.parse(line) as { kind: string; instanceId?: string; data: Record<string, unknown> })
      .filter((f) => f.kind === "trigger.fired");
  };

  async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await probe();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${up.stderr()}`);
      await new Promise((r) => setTimeout(r, 300));
    }
  }

  it("fires a */1 seconds cron trigger on the clock and records each firing as a fact", async () => {
    expect(json(await run("start", ECHO, "--id", "echo", "--json"))).toMatchObject({ status: "running" });
    const added = json<{ name: string; cron: string; nextFireAtMs: number }>(
      await run(
        "trigger",
        "add",
        "tick",
        "--cron",
        "*/1 * * * * *",
        "--target",
        "echo",
        "--operation",
        "count",
        "--json",
      ),
    );
    expect(added).toMatchObject({ name: "tick", cron: "*/1 * * * * *" });
    const fired = await until("two firings", async () => {
      const f = (await firings()).filter((x) => x.data["trigger"] === "tick");
      return f.length >= 2 ? f : undefined;
    });
    for (const fact of fired) {
      expect(fact.instanceId).toBe("echo");
      expect(fact.data["outcome"]).toBe("ok");
      expect((fact.data["scheduledAt"] as number) % 1_000).toBe(0);
    }
    const table = await run("trigger", "list");
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^NAME\s+SOURCE\s+TARGET\s+OPERATION\s+NEXT\s+FIRED\s+FAILED\n/);
    expect(table.stdout).toContain("cron */1 * * * * *");
    const removed = await run("trigger", "remove", "tick");
    expect(removed.code).toBe(0);
    expect(json<unknown[]>(await run("trigger", "list", "--json"))).toEqual([]);
    const missing = await run("trigger", "remove", "tick");
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("TRIGGER_NOT_FOUND");
  }, 120_000);

  it("delivers what a guest publishes on the in-process bus to a queue trigger", async () => {
    json(await run("start", ECHO, "--id", "publisher", "--cap", "messaging=msg:publish:orders.>", "--json"));
    json(
      await run(
        "trigger",
        "add",
        "orders",
        "--queue",
        "orders.>",
        "--target",
        "echo",
        "--operation",
        "echo",
        "--json",
      ),
    );
    const published = await run(
      "invoke",
      "publisher",
      "publish",
      "--data",
      JSON.stringify({ subject: "orders.eu.1", data: "one order" }),
    );
    expect(published.code, published.stderr).toBe(0);
    const listed = await until("one delivery", async () => {
      const [t] = json<{ counters?: { fired?: number } }[]>(await run("trigger", "list", "--json"));
      return t?.counters?.fired === 1 ? t : undefined;
    });
    expect(listed).toMatchObject({ name: "orders", queueSubject: "orders.>" });
  }, 120_000);
});

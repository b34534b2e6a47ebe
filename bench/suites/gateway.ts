import { type ChildProcess, spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { connect, startRequest } from "@wasmatrix/client";
import * as pb from "@wasmatrix/proto";
import { Pool } from "undici";
import { freePort, waitFor } from "../../test/cluster/harness.js";
import { type Figure, type SuiteResult, targets } from "../report.js";
import { summarize } from "../stats.js";
import type { Suite, SuiteOptions } from "../suite.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = `${ROOT}packages/cli/bin/wasmatrix.js`;
const HTTP_ECHO = `${ROOT}examples/build/http_echo.wasm`;
const PATH = "/bench";
/** What http_echo answers to `GET /bench`; the plain server answers the same bytes. */
const BODY = `GET ${PATH}\n`;

/** A plain node:http server in a child process, answering what http_echo answers. */
const PLAIN_SERVER = `
const http = require("node:http");
const body = Buffer.from(${JSON.stringify(BODY)});
http.createServer((req, res) => {
  req.resume();
  res.setHeader("content-type", "text/plain; charset=utf-8");
  res.setHeader("x-request-id", "00000000-0000-0000-0000-000000000000");
  res.end(body);
}).listen(Number(process.argv[1]), "127.0.0.1");
`;

function child(args: string[]): ChildProcess {
  const c = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "ignore", "ignore"] });
  process.once("exit", () => c.kill("SIGKILL"));
  return c;
}

interface Load {
  rps: number;
  p50Ms: number;
  p99Ms: number;
}

/** `connections` loops, each sending its next request when the last answered, for `ms`. */
async function load(origin: string, connections: number, ms: number): Promise<Load> {
  const pool = new Pool(origin, { connections, pipelining: 1 });
  try {
    const latencies: number[] = [];
    const until = performance.now() + ms;
    const loop = async () => {
      while (performance.now() < until) {
        const started = performance.now();
        const res = await pool.request({ path: PATH, method: "GET" });
        const text = await res.body.text();
        if (res.statusCode !== 200 || text !== BODY) throw new Error(`bad answer ${res.statusCode}: ${text}`);
        latencies.push(performance.now() - started);
      }
    };
    const began = performance.now();
    await Promise.all(Array.from({ length: connections }, loop));
    const elapsed = performance.now() - began;
    const s = summarize(latencies);
    return { rps: (latencies.length * 1000) / elapsed, p50Ms: s.median, p99Ms: s.p99 };
  } finally {
    await pool.close();
  }
}

async function run(options: SuiteOptions): Promise<SuiteResult> {
  const began = performance.now();
  const [apiPort, httpPort, plainPort] = [await freePort(), await freePort(), await freePort()];
  const up = child([
    BIN,
    "up",
    "--listen",
    `127.0.0.1:${apiPort}`,
    "--http",
    `127.0.0.1:${httpPort}`,
    "--log-level",
    "info",
  ]);
  const plain = child(["-e", PLAIN_SERVER, String(plainPort)]);
  const client = connect(`127.0.0.1:${apiPort}`, { timeoutMs: 10_000 });
  const gateway = `http://127.0.0.1:${httpPort}`;
  const baseline = `http://127.0.0.1:${plainPort}`;
  try {
    await waitFor("wasmatrix up to serve", () => client.serverInfo(), { timeoutMs: 60_000 });
    await client.startInstance(
      startRequest({ instanceId: "echo", module: await readFile(HTTP_ECHO), limits: { queueDepth: 1024 } }),
    );
    await client.addRoute({
      route: pb.Route.fromPartial({ name: "bench", pathPrefix: "/", targetInstance: "echo" }),
    });
    await waitFor("the route", async () => ((await load(gateway, 1, 50)).rps > 0 ? true : undefined), {
      timeoutMs: 20_000,
    });
    const seconds = options.long ? 10 : 3;
    const figures: Figure[] = [];
    for (const connections of [1, 64]) {
      // Warm-up of both, then the two measured in turn.
      await load(gateway, connections, 1000);
      await load(baseline, connections, 1000);
      options.log(`gateway vs node:http at ${connections} connection(s), ${seconds}s each`);
      const g = await load(gateway, connections, seconds * 1000);
      const p = await load(baseline, connections, seconds * 1000);
      const rpsBase = { label: "node:http", value: p.rps };
      const p99Base = { label: "node:http p99", value: p.p99Ms };
      figures.push({
        name: `http_echo through the gateway, ${connections} conn: req/s`,
        value: g.rps,
        unit: "ops/s",
        baselines: [rpsBase],
        ...(connections === 64 ? { target: targets.atLeast(g.rps, 0.5 * p.rps, "ops/s") } : {}),
      });
      figures.push({
        name: `http_echo through the gateway, ${connections} conn: p50 latency (p99 beside)`,
        value: g.p50Ms,
        p99: g.p99Ms,
        unit: "ms",
        baselines: [{ label: "node:http p50", value: p.p50Ms }, p99Base],
        ...(connections === 64 ? { target: targets.ratioAtMost(g.p99Ms, p99Base, 2) } : {}),
      });
    }
    return {
      name: "gateway",
      title: "HTTP gateway",
      figures,
      notes: [
        "`wasmatrix up` in a child process (access log at info to /dev/null), http_echo behind a route; a plain node:http server in another child answering the same bytes; the undici Pool load generator in the bench process, all on the same cores.",
        "Targets (issue 16): ≥ 50% of node:http throughput at 64 connections; p99 ≤ 2× node:http's.",
      ],
      elapsedMs: performance.now() - began,
    };
  } finally {
    client.close();
    up.kill("SIGTERM");
    plain.kill("SIGKILL");
  }
}

export const gatewaySuite: Suite = {
  name: "gateway",
  title: "HTTP gateway",
  summary:
    "requests/s and p50/p99 of http_echo through the gateway at 1 and 64 connections, beside plain node:http",
  run,
};

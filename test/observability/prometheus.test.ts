import { invokeRequest, listRequest, startRequest, type WasmatrixClient } from "@wasmatrix/client";
import { wat } from "@wasmatrix/runtime/test-support/wat";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { always, startReactor } from "../cluster/guest.js";
import { Cluster, type Daemon, freePort, spawnDaemon, untilServing, waitFor } from "../cluster/harness.js";
import { type PrometheusServer, startPrometheus } from "../support/prometheus.js";

/**
 * `wasmatrix up` with `--metrics`, scraped every second by a real Prometheus; the test drives
 * invocations, crashes and a queue and reads them back through Prometheus' query API.
 */

/** A reactor whose every invocation loops until its fuel or its deadline runs out. */
const SPIN_REACTOR_WAT = `(module
  (memory (export "memory") 1)
  (func (export "__guest_call") (param i32 i32) (result i32)
    (loop $l (br $l))
    (i32.const 1)))`;

const SCRAPED_WITHIN_MS = 60_000;

describe("a real Prometheus scraping `wasmatrix up --metrics`", () => {
  const cluster = new Cluster();
  let up: Daemon;
  let client: WasmatrixClient;
  let prometheus: PrometheusServer;

  beforeAll(async () => {
    const api = `127.0.0.1:${await freePort()}`;
    const metrics = `127.0.0.1:${await freePort()}`;
    up = spawnDaemon("up", api, [
      "up",
      "--listen",
      api,
      "--http",
      "off",
      "--metrics",
      metrics,
      "--log-level",
      "warn",
    ]);
    client = cluster.client(api);
    await untilServing(up, () => client.serverInfo());
    prometheus = await startPrometheus([metrics]);
  }, 90_000);

  afterAll(async () => {
    await prometheus?.stop();
    await up?.kill("SIGKILL");
    await cluster.close();
  });

  /** Polls Prometheus until `promql` evaluates to `expected`; returns what it last saw otherwise. */
  async function until(promql: string, expected: number): Promise<number | undefined> {
    let last: number | undefined;
    try {
      await waitFor(
        `${promql} == ${expected}`,
        async () => {
          last = await prometheus.query(promql);
          return last === expected ? last : undefined;
        },
        { timeoutMs: SCRAPED_WITHIN_MS, intervalMs: 500 },
      );
    } catch {
      // The assertion below names the value seen.
    }
    return last;
  }

  it("counts invocations by outcome as the test makes them", async () => {
    await startReactor(client, { instanceId: "counted" });
    for (let i = 0; i < 7; i++) await client.invoke(invokeRequest("counted", "count"));
    await client.invoke(invokeRequest("counted", "xyz")); // an unknown op: the proxy traps
    expect(await until('sum(wasmatrix_invocations_total{outcome="ok"})', 7)).toBe(7);
    expect(await until('sum(wasmatrix_invocations_total{outcome="crashed"})', 1)).toBe(1);
    expect(await until("sum(wasmatrix_invocation_duration_seconds_count)", 8)).toBe(8);
  }, 120_000);

  it("counts crashes by reason, and the restarts that follow them", async () => {
    await startReactor(client, { instanceId: "crasher", restartPolicy: always });
    for (let i = 0; i < 3; i++) {
      await waitFor(
        "crasher running",
        async () => {
          const { instances } = await client.listInstances(listRequest({ status: "running" }));
          return instances.some((i) => i.instanceId === "crasher") ? true : undefined;
        },
        { timeoutMs: 30_000 },
      );
      await client.invoke(invokeRequest("crasher", "trap"));
    }
    // One crash came from the first test's unknown operation: 4 traps in all.
    expect(await until('sum(wasmatrix_instance_crashes_total{reason="unreachable"})', 4)).toBe(4);
    expect(await until("sum(wasmatrix_instance_crashes_total)", 4)).toBe(4);
    expect(await until('sum(wasmatrix_instance_restarts_total{reason="unreachable"})', 3)).toBe(3);
  }, 180_000);

  it("shows the invocation queue's depth rise with waiting invocations and fall when they end", async () => {
    // The first invocation spins until its deadline (a `timeout` crash, restart never): the
    // other two wait behind it meanwhile, then find the instance gone.
    await client.startInstance(
      startRequest({
        instanceId: "spinner",
        module: Buffer.from(await wat(SPIN_REACTOR_WAT)),
        limits: { fuel: 1e15, invokeTimeoutMs: 10_000 },
      }),
    );
    const patient = cluster.client(client.address, 120_000);
    const waiting = [1, 2, 3].map(() =>
      patient.invoke(invokeRequest("spinner", "spin")).catch(() => undefined),
    );
    expect(await until('sum(wasmatrix_queue_depth{queue="invocations"})', 3)).toBe(3);
    await Promise.all(waiting);
    expect(await until('sum(wasmatrix_queue_depth{queue="invocations"})', 0)).toBe(0);
    expect(await until('sum(wasmatrix_instance_crashes_total{reason="timeout"})', 1)).toBe(1);
  }, 180_000);

  it("serves gRPC server latencies and Node's process metrics on the same listener", async () => {
    expect(
      await until(
        'sum(wasmatrix_grpc_server_handling_seconds_count{method="/wasmatrix.v1.ControlPlane/Invoke",code="OK"}) > bool 0',
        1,
      ),
    ).toBe(1);
    expect(await until("count(process_cpu_user_seconds_total) > bool 0", 1)).toBe(1);
  }, 120_000);
});

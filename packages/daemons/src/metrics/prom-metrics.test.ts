import { ErrorCode, type InvocationOutcome } from "@wasmatrix/core";
import { rejection } from "@wasmatrix/core/test-support/expect-code";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { startMetricsServer } from "./metrics-server.js";
import { PromMetrics } from "./prom-metrics.js";

const OUTCOMES: InvocationOutcome[] = ["ok", "guest_error", "crashed", "refused"];

/** The series of one metric family in the text exposition: its sample lines. */
function samples(text: string, name: string): string[] {
  return text.split("\n").filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `));
}

describe("PromMetrics", () => {
  it("keeps invocation series bounded by outcome whatever the instance ids, unless asked for instance labels", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.constantFrom(...OUTCOMES), fc.string({ minLength: 1, maxLength: 8 })), {
          minLength: 1,
          maxLength: 60,
        }),
        async (calls) => {
          const metrics = new PromMetrics({ defaultMetrics: false });
          for (const [outcome, instanceId] of calls)
            metrics.invocation({ outcome, seconds: 0.001, fuel: 10, instanceId });
          const text = await metrics.scrape();
          const series = samples(text, "wasmatrix_invocations_total");
          expect(series.length).toBe(new Set(calls.map(([o]) => o)).size);
          expect(text).not.toContain("instance=");
          const total = series.reduce((sum, line) => sum + Number(line.split(" ").at(-1)), 0);
          expect(total).toBe(calls.length);
        },
      ),
      { numRuns: 30 },
    );
  });

  it("labels invocations, fuel and lifecycle with the instance id under --metrics-instance-labels", async () => {
    const metrics = new PromMetrics({ defaultMetrics: false, instanceLabels: true });
    metrics.invocation({ outcome: "ok", seconds: 0.002, fuel: 7, instanceId: "a" });
    metrics.invocation({ outcome: "ok", seconds: 0.002, fuel: 5, instanceId: "b" });
    metrics.lifecycle("crash", "unreachable", "a");
    const text = await metrics.scrape();
    expect(samples(text, "wasmatrix_invocations_total")).toEqual([
      'wasmatrix_invocations_total{outcome="ok",instance="a"} 1',
      'wasmatrix_invocations_total{outcome="ok",instance="b"} 1',
    ]);
    expect(samples(text, "wasmatrix_fuel_used_total")).toContain('wasmatrix_fuel_used_total{instance="a"} 7');
    expect(samples(text, "wasmatrix_instance_crashes_total")).toEqual([
      'wasmatrix_instance_crashes_total{reason="unreachable",instance="a"} 1',
    ]);
  });

  it("reads gauges from every registered source at scrape time, summed, and forgets a source once unregistered", async () => {
    const metrics = new PromMetrics({ defaultMetrics: false });
    let running = 2;
    const first = metrics.gauges(() => [
      { name: "instances", labels: { status: "running" }, value: running },
    ]);
    metrics.gauges(() => [{ name: "instances", labels: { status: "running" }, value: 1 }]);
    expect(samples(await metrics.scrape(), "wasmatrix_instances")).toEqual([
      'wasmatrix_instances{status="running"} 3',
    ]);
    running = 5;
    expect(samples(await metrics.scrape(), "wasmatrix_instances")).toEqual([
      'wasmatrix_instances{status="running"} 6',
    ]);
    first();
    expect(samples(await metrics.scrape(), "wasmatrix_instances")).toEqual([
      'wasmatrix_instances{status="running"} 1',
    ]);
  });

  it("keeps each registry to itself: two in one process do not collide", async () => {
    const a = new PromMetrics({ defaultMetrics: false });
    const b = new PromMetrics({ defaultMetrics: false });
    a.nodeLost();
    expect(samples(await a.scrape(), "wasmatrix_node_losses_total")).toEqual([
      "wasmatrix_node_losses_total 1",
    ]);
    expect(samples(await b.scrape(), "wasmatrix_node_losses_total")).toEqual([
      "wasmatrix_node_losses_total 0",
    ]);
  });
});

describe("the metrics listener", () => {
  it("serves GET /metrics with Node's process metrics, and nothing else", async () => {
    const server = await startMetricsServer("127.0.0.1:0");
    try {
      server.metrics.heartbeat("received");
      const response = await fetch(`http://${server.address}/metrics`);
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toContain("text/plain");
      const text = await response.text();
      expect(samples(text, "wasmatrix_heartbeats_total")).toEqual([
        'wasmatrix_heartbeats_total{direction="received"} 1',
      ]);
      expect(text).toContain("process_cpu_user_seconds_total");
      expect((await fetch(`http://${server.address}/`)).status).toBe(404);
    } finally {
      await server.close();
    }
  });

  it("refuses a plain-HTTP address beyond loopback without --insecure", async () => {
    const error = await rejection(startMetricsServer("0.0.0.0:0"));
    expect(error.code).toBe(ErrorCode.INSECURE_LISTEN);
  });

  it("refuses an address without a port, saying what it wants", async () => {
    const error = await rejection(startMetricsServer("127.0.0.1"));
    expect(error.code).toBe(ErrorCode.INVALID_REQUEST);
    expect(error.message).toContain("host:port");
  });
});

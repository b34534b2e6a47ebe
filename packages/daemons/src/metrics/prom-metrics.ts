import type {
  GaugeName,
  GaugeReading,
  GaugeSource,
  HostCallOutcome,
  InvocationSample,
  LifecycleEvent,
  Metrics,
} from "@wasmatrix/core";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export interface PromMetricsOptions {
  /**
   * Label invocations, fuel and lifecycle counts with the instance id too. Off by default: every
   * instance ever started would be a series of its own (`--metrics-instance-labels`).
   */
  instanceLabels?: boolean;
  /** Node's process metrics (CPU, heap, event loop lag, GC). @default true */
  defaultMetrics?: boolean;
}

/** Invocations and host calls: from 0.5 ms (a warm echo) to 30 s (the default invoke timeout). */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

const LIFECYCLE_NAMES: Record<LifecycleEvent, [string, string]> = {
  start: ["wasmatrix_instance_starts_total", "Instance runs started, by reason (requested, restart)"],
  stop: [
    "wasmatrix_instance_stops_total",
    "Instance runs that ended without crashing, by reason (requested, forced, completed)",
  ],
  crash: ["wasmatrix_instance_crashes_total", "Instance runs that crashed, by reason (the crash reason)"],
  restart: [
    "wasmatrix_instance_restarts_total",
    "Restarts performed by the node's supervisor, by what ended the run before",
  ],
};

const GAUGES: Record<GaugeName, { name: string; help: string; labelNames: string[] }> = {
  instances: {
    name: "wasmatrix_instances",
    help: "Instances on this node, by status",
    labelNames: ["status"],
  },
  queue_depth: {
    name: "wasmatrix_queue_depth",
    help: "Work accepted and not yet done: invocations waiting or running, messages waiting for delivery",
    labelNames: ["queue"],
  },
  nodes: { name: "wasmatrix_nodes", help: "Nodes the control plane knows, by state", labelNames: ["state"] },
  providers: {
    name: "wasmatrix_providers",
    help: "Provider processes the control plane knows, by capability and state (alive, lost)",
    labelNames: ["capability", "state"],
  },
  guest_memory_bytes: {
    name: "wasmatrix_guest_memory_bytes",
    help: "Linear memory of running instances (each one's peak in its last run or invocation), summed",
    labelNames: [],
  },
};

/**
 * The Prometheus implementation of core's `Metrics`, on a registry of its own (never
 * prom-client's global one), so that two in one process (tests, the embedded cluster) do not
 * collide. Counters are bound to their label values once and reused: an invocation costs a map
 * lookup, two increments and one histogram observation.
 */
export class PromMetrics implements Metrics {
  readonly registry = new Registry();
  readonly instanceLabels: boolean;
  private readonly lifecycleCounters: Record<LifecycleEvent, Counter<string>>;
  private readonly invocations: Counter<string>;
  private readonly invocationSeconds: Histogram<string>;
  private readonly fuel: Counter<string>;
  private readonly hostCalls: Histogram<string>;
  private readonly rpcSeconds: Record<"server" | "client", Histogram<string>>;
  private readonly heartbeats: Counter<string>;
  private readonly nodeLosses: Counter<string>;
  private readonly sources = new Set<GaugeSource>();
  private readonly bound = new Map<
    string,
    { count: Counter.Internal; seconds: Histogram.Internal<string> }
  >();

  constructor(options: PromMetricsOptions = {}) {
    this.instanceLabels = options.instanceLabels === true;
    const registers = [this.registry];
    const instance = this.instanceLabels ? ["instance"] : [];
    this.lifecycleCounters = Object.fromEntries(
      Object.entries(LIFECYCLE_NAMES).map(([event, [name, help]]) => [
        event,
        new Counter({ name, help, labelNames: ["reason", ...instance], registers }),
      ]),
    ) as Record<LifecycleEvent, Counter<string>>;
    this.invocations = new Counter({
      name: "wasmatrix_invocations_total",
      help: "Invocations of reactors, by outcome (ok, guest_error, crashed, refused)",
      labelNames: ["outcome", ...instance],
      registers,
    });
    this.invocationSeconds = new Histogram({
      name: "wasmatrix_invocation_duration_seconds",
      help: "Time from an invocation reaching the node to its answer, by outcome",
      labelNames: ["outcome", ...instance],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.fuel = new Counter({
      name: "wasmatrix_fuel_used_total",
      help: "Fuel (instrumented Wasm instructions) spent by invocations",
      labelNames: instance,
      registers,
    });
    this.hostCalls = new Histogram({
      name: "wasmatrix_host_call_duration_seconds",
      help: "Capability calls routed by the node (keyvalue, http, messaging; logging is served in the worker), by capability and outcome (ok, denied, failed); its _count is the number of calls",
      labelNames: ["capability", "outcome"],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    const rpc = (side: "server" | "client") =>
      new Histogram({
        name: `wasmatrix_grpc_${side}_handling_seconds`,
        help: `gRPC calls ${side === "server" ? "answered" : "made"}, by method and status code, from start to status; its _count is the number of calls`,
        labelNames: ["method", "code"],
        buckets: LATENCY_BUCKETS,
        registers,
      });
    this.rpcSeconds = { server: rpc("server"), client: rpc("client") };
    this.heartbeats = new Counter({
      name: "wasmatrix_heartbeats_total",
      help: "Status reports between nodes and the control plane (each keeps the node alive), by direction (sent, received)",
      labelNames: ["direction"],
      registers,
    });
    this.nodeLosses = new Counter({
      name: "wasmatrix_node_losses_total",
      help: "Nodes the control plane declared lost after silence",
      registers,
    });
    for (const [key, spec] of Object.entries(GAUGES)) {
      const readings = () => this.readings(key as GaugeName);
      new Gauge({
        ...spec,
        registers,
        // Read at scrape time from every registered component, summed where labels coincide.
        collect(this: Gauge<string>) {
          this.reset();
          for (const reading of readings()) this.inc(reading.labels, reading.value);
        },
      });
    }
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  lifecycle(event: LifecycleEvent, reason: string, instanceId: string): void {
    const labels: Record<string, string> = { reason };
    if (this.instanceLabels) labels["instance"] = instanceId;
    this.lifecycleCounters[event].inc(labels);
  }

  invocation(sample: InvocationSample): void {
    const key = this.instanceLabels ? `${sample.outcome}\u0000${sample.instanceId}` : sample.outcome;
    let bound = this.bound.get(key);
    if (bound === undefined) {
      const labels: Record<string, string> = { outcome: sample.outcome };
      if (this.instanceLabels) labels["instance"] = sample.instanceId;
      bound = { count: this.invocations.labels(labels), seconds: this.invocationSeconds.labels(labels) };
      // With instance labels the set grows with the instances; a stopped one's series stay,
      // as Prometheus expects of a counter.
      this.bound.set(key, bound);
    }
    bound.count.inc();
    bound.seconds.observe(sample.seconds);
    if (sample.fuel > 0) {
      if (this.instanceLabels) this.fuel.inc({ instance: sample.instanceId }, sample.fuel);
      else this.fuel.inc(sample.fuel);
    }
  }

  hostCall(capability: string, outcome: HostCallOutcome, seconds: number): void {
    this.hostCalls.observe({ capability, outcome }, seconds);
  }

  rpc(side: "server" | "client", method: string, code: string, seconds: number): void {
    this.rpcSeconds[side].observe({ method, code }, seconds);
  }

  heartbeat(direction: "sent" | "received"): void {
    this.heartbeats.inc({ direction });
  }

  nodeLost(): void {
    this.nodeLosses.inc();
  }

  gauges(source: GaugeSource): () => void {
    this.sources.add(source);
    return () => this.sources.delete(source);
  }

  /** The text Prometheus scrapes. */
  scrape(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private *readings(name: GaugeName): Iterable<GaugeReading> {
    for (const source of this.sources)
      for (const reading of source()) if (reading.name === name) yield reading;
  }
}

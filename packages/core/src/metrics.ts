/**
 * What the libraries report about themselves, as plain method calls. The libraries (node agent,
 * control plane, proto) only ever see this interface, passed in their options; the daemons hand
 * them a Prometheus-backed one (`PromMetrics` in @wasmatrix/daemons). The default is `noopMetrics`,
 * so a library used on its own pays nothing and holds no global registry.
 *
 * Every label value a caller passes must come from a bounded set (an outcome, a reason, a
 * capability, an RPC name); an instance id is passed separately and used as a label only when the
 * operator asked for it (`--metrics-instance-labels`).
 */

/** How an invocation ended: answered, answered with a guest error, crashed, or refused by the host. */
export type InvocationOutcome = "ok" | "guest_error" | "crashed" | "refused";

/** How a host call ended: served, refused by authorization, or failed in the provider. */
export type HostCallOutcome = "ok" | "denied" | "failed";

/** An instance's lifecycle step that is counted. */
export type LifecycleEvent = "start" | "stop" | "crash" | "restart";

/** Gauges read when scraped, never updated on a hot path. */
export type GaugeName =
  /** Instances of a node by `status`. */
  | "instances"
  /** Invocations accepted and not yet answered, by `queue` (`invocations`, `deliveries`). */
  | "queue_depth"
  /** Nodes the control plane knows, by `state` (`alive`, `lost`). */
  | "nodes"
  /** Providers the control plane knows, by `capability` and `state` (`alive`, `lost`). */
  | "providers"
  /** Largest linear memory of each running instance's last run or invocation, summed. */
  | "guest_memory_bytes";

export interface GaugeReading {
  readonly name: GaugeName;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Called at each scrape; returns the current readings of one component. */
export type GaugeSource = () => Iterable<GaugeReading>;

export interface InvocationSample {
  readonly outcome: InvocationOutcome;
  readonly seconds: number;
  readonly fuel: number;
  readonly instanceId: string;
}

export interface Metrics {
  /** Counts a lifecycle step, with why (`requested`, `forced`, a crash reason, `crashed`…). */
  lifecycle(event: LifecycleEvent, reason: string, instanceId: string): void;
  invocation(sample: InvocationSample): void;
  hostCall(capability: string, outcome: HostCallOutcome, seconds: number): void;
  /** A finished gRPC call: `side` is `server` or `client`, `code` the gRPC status name. */
  rpc(side: "server" | "client", method: string, code: string, seconds: number): void;
  /** A heartbeat sent (node) or received (control plane). */
  heartbeat(direction: "sent" | "received"): void;
  nodeLost(): void;
  /** Registers readings taken at each scrape; returns what unregisters them. */
  gauges(source: GaugeSource): () => void;
}

/** Reports nothing, costs a call: the default of every library. */
export const noopMetrics: Metrics = Object.freeze({
  lifecycle() {},
  invocation() {},
  hostCall() {},
  rpc() {},
  heartbeat() {},
  nodeLost() {},
  gauges: () => () => undefined,
});

/** Counts readings by one label, for gauge sources (instances by status…). */
export function countBy<T>(
  name: GaugeName,
  label: string,
  items: Iterable<T>,
  key: (item: T) => string,
  known: readonly string[] = [],
): GaugeReading[] {
  // Known values are reported at zero too, so that a series drops to 0 instead of vanishing.
  const counts = new Map<string, number>(known.map((k) => [k, 0]));
  for (const item of items) {
    const k = key(item);
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return [...counts].map(([value, count]) => ({ name, labels: { [label]: value }, value: count }));
}

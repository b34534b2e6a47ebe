/**
 * Defaults named once for every package: where each wasmatrix process listens unless told
 * otherwise (loopback only: a daemon is reachable from elsewhere only when its operator says so),
 * and the limits an instance gets when its start names none (every one finite but the run deadline).
 */

/** The control-plane API, served by `wasmatrix up` and `wasmatrix control-plane`; the CLI's default server. */
export const DEFAULT_API_ADDRESS = "127.0.0.1:7400";
/** A node agent's own gRPC service. */
export const DEFAULT_NODE_AGENT_ADDRESS = "127.0.0.1:7401";
/** A capability provider process. */
export const DEFAULT_PROVIDER_ADDRESS = "127.0.0.1:7402";

/** Linear-memory cap of an instance. */
export const DEFAULT_MAX_MEMORY_BYTES = 256 * 1024 * 1024;
/** Fuel units are roughly instructions; 10^10 is several seconds of tight CPU work. */
export const DEFAULT_FUEL = 10_000_000_000;
export const DEFAULT_INVOKE_TIMEOUT_MS = 30_000;
/** A command run has no wall-clock limit by default; its fuel budget still bounds its CPU. */
export const DEFAULT_RUN_TIMEOUT_MS: number | null = null;
export const DEFAULT_MAX_HOST_CALL_PAYLOAD_BYTES = 1024 * 1024;
/** Bytes of stdout and of stderr kept per instance. */
export const DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024;

/**
 * Backpressure per instance (`start --max-concurrency`, `--queue-depth`). A reactor runs one
 * invocation at a time on its worker, so more than a few at once only queues there instead.
 */
export const DEFAULT_MAX_CONCURRENCY = 4;
/** Invocations that may wait for an instance; beyond it callers are refused at once (HTTP 503). */
export const DEFAULT_QUEUE_DEPTH = 64;

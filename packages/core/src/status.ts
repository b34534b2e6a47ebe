import { ErrorCode, WasmatrixError } from "./errors.js";
import { describe, invalid } from "./validation.js";

/**
 * Instance status is what is happening, never an intention. The table below is the only place
 * that says which changes are possible; the registry and the node agent go through `transition`.
 * `restarting` is the architecture note's `backoff`: a restart is decided and its delay is
 * running. Diagram and reasons in docs/core.md.
 */

export const INSTANCE_STATUSES = [
  "pending",
  "starting",
  "running",
  "stopping",
  "stopped",
  "completed",
  "crashed",
  "restarting",
  "lost",
] as const;

export type InstanceStatus = (typeof INSTANCE_STATUSES)[number];

export const ALLOWED_TRANSITIONS: Readonly<Record<InstanceStatus, readonly InstanceStatus[]>> = Object.freeze(
  {
    // Accepted, not yet started; its node may vanish before it does.
    pending: Object.freeze(["starting", "stopped", "lost"] as const),
    // A stop that arrives while the module is instantiating has a worker to tear down first.
    starting: Object.freeze(["running", "crashed", "stopping", "stopped", "lost"] as const),
    running: Object.freeze(["stopping", "completed", "crashed", "lost"] as const),
    // A stop can still end in a crash (the guest traps while shutting down).
    stopping: Object.freeze(["stopped", "crashed", "lost"] as const),
    crashed: Object.freeze(["restarting", "stopped"] as const),
    restarting: Object.freeze(["starting", "stopped", "lost"] as const),
    // `always` restarts completed commands too.
    completed: Object.freeze(["restarting", "stopped"] as const),
    // A lost instance is restarted elsewhere (always / backoff) or given up.
    lost: Object.freeze(["restarting", "stopped"] as const),
    stopped: Object.freeze([] as const),
  },
);

export function isInstanceStatus(value: unknown): value is InstanceStatus {
  return typeof value === "string" && (INSTANCE_STATUSES as readonly string[]).includes(value);
}

export function parseInstanceStatus(value: unknown): InstanceStatus {
  if (isInstanceStatus(value)) return value;
  throw invalid(
    `unknown instance status '${describe(value)}'; statuses are ${INSTANCE_STATUSES.join(", ")}`,
    {
      status: describe(value),
    },
  );
}

export function canTransition(from: InstanceStatus, to: InstanceStatus): boolean {
  return ALLOWED_TRANSITIONS[from]?.includes(to) ?? false;
}

/** Returns `to` when the table allows `from → to`; throws FAILED_PRECONDITION otherwise. */
export function transition(from: InstanceStatus, to: InstanceStatus): InstanceStatus {
  if (canTransition(from, to)) return to;
  const allowed = ALLOWED_TRANSITIONS[from] ?? [];
  throw new WasmatrixError(
    ErrorCode.FAILED_PRECONDITION,
    `an instance cannot go from ${from} to ${to}; from ${from} it can go to ${allowed.length === 0 ? "nothing (final)" : allowed.join(", ")}`,
    { from, to },
  );
}

/** No transition leaves a terminal status. Only `stopped` is terminal. */
export function isTerminal(status: InstanceStatus): boolean {
  return ALLOWED_TRANSITIONS[status].length === 0;
}

/** A guest is loaded (or being loaded or unloaded) on a node: the statuses that hold resources. */
export function isActive(status: InstanceStatus): boolean {
  return status === "starting" || status === "running" || status === "stopping";
}

/** Nothing runs and nothing will unless someone acts: what `ps` hides and load does not count. */
export function isEnded(status: string): boolean {
  return status === "stopped" || status === "completed" || status === "crashed" || status === "lost";
}

/**
 * Who fires a tick. With several control planes each schedules every cron trigger, and a tick is
 * fired by the one that claims it first; the others skip it.
 */
export interface TickClaims {
  /** True for exactly one caller per (trigger, scheduled time), across every control plane. */
  claim(trigger: string, scheduledAtMs: number): Promise<boolean>;
}

/** One control plane (embedded mode, or a cluster without etcd): every tick is its own. */
export const soleOwner: TickClaims = { claim: async () => true };

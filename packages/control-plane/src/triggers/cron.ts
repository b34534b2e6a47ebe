import { ErrorCode, WasmatrixError } from "@wasmatrix/core";
import { Cron } from "croner";

/** A parsed cron expression: when it fires next. Times are ms since the epoch; fields read in UTC. */
export interface CronSchedule {
  readonly expression: string;
  /** The first tick strictly after `afterMs`, or null when there is none. */
  next(afterMs: number): number | null;
}

/**
 * Parses 5 fields (minute precision) or 6 (seconds first) with croner, in UTC so that every
 * control plane computes the same ticks whatever its local zone. INVALID_REQUEST otherwise.
 */
export function parseCron(expression: string): CronSchedule {
  let cron: Cron;
  try {
    cron = new Cron(expression.trim(), { paused: true, timezone: "UTC", mode: "5-or-6-parts" });
  } catch (error) {
    throw new WasmatrixError(
      ErrorCode.INVALID_REQUEST,
      `cron expression '${expression.slice(0, 200)}' is not valid: ${(error as Error).message}; use 5 fields (m h dom mon dow) or 6 with seconds first, e.g. '*/5 * * * *' or '*/1 * * * * *'`,
      { cron: expression.slice(0, 200) },
    );
  }
  return {
    expression,
    next(afterMs) {
      return cron.nextRun(new Date(afterMs))?.getTime() ?? null;
    },
  };
}

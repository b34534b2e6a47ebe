import type { Clock } from "./clock.js";
import type { CronSchedule } from "./cron.js";

interface Job {
  readonly schedule: CronSchedule;
  next: number | null;
  cancel: () => void;
}

/**
 * One timer per cron trigger, armed for its next tick. A timer that runs late (a busy or
 * suspended process) fires the tick it was armed for once and skips the ticks missed meanwhile:
 * a cron trigger never fires a burst to catch up.
 */
export class CronScheduler {
  private readonly jobs = new Map<string, Job>();

  constructor(
    private readonly clock: Clock,
    private readonly onTick: (name: string, scheduledAtMs: number) => void,
  ) {}

  schedule(name: string, schedule: CronSchedule): void {
    this.unschedule(name);
    const job: Job = { schedule, next: null, cancel: () => {} };
    this.jobs.set(name, job);
    this.arm(name, job, this.clock.now());
  }

  unschedule(name: string): void {
    this.jobs.get(name)?.cancel();
    this.jobs.delete(name);
  }

  /** When the trigger fires next; null when it never will (or is not scheduled). */
  nextTick(name: string): number | null {
    return this.jobs.get(name)?.next ?? null;
  }

  close(): void {
    for (const name of [...this.jobs.keys()]) this.unschedule(name);
  }

  private arm(name: string, job: Job, afterMs: number): void {
    const next = job.schedule.next(afterMs);
    job.next = next;
    if (next === null) return;
    job.cancel = this.clock.setTimer(() => {
      if (this.jobs.get(name) !== job) return;
      this.onTick(name, next);
      this.arm(name, job, Math.max(next, this.clock.now()));
    }, next - this.clock.now());
  }
}

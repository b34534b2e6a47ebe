/**
 * Host side of the fuel counter that instrumentation injects (see instrument/). The guest
 * decrements an exported i64 global at function entries and loop headers and calls `fuel()` when
 * it goes negative. Handing out the budget in chunks means the same callback also checks the
 * wall-clock deadline, so fuel, timeouts and interruption share one mechanism and a runaway guest
 * is stopped without terminating its worker thread.
 */

/** Fuel handed out per refill: the granularity of deadline checks (well under 1 ms of guest work). */
export const FUEL_CHUNK = 1_000_000;
/**
 * A start function runs inside `new WebAssembly.Instance`, before the fuel global can be reached;
 * there every charge calls `fuel()` and is counted at this flat cost instead.
 */
export const UNBOUND_CHARGE = 1_000;

export class FuelTrap extends Error {
  constructor(
    readonly reason: "fuel_exhausted" | "timeout",
    message: string,
  ) {
    super(message);
    this.name = "FuelTrap";
  }
}

export class FuelMeter {
  private global: WebAssembly.Global | null = null;
  private granted = 0;
  private spent = 0;
  private budget = 0;
  private deadline = Number.POSITIVE_INFINITY;
  private timeoutMs: number | null = null;
  /** Once tripped, every further charge traps again, so a guest that catches the trap cannot go on. */
  private tripped: FuelTrap | null = null;

  bind(global: WebAssembly.Global): void {
    this.global = global;
  }

  /** Starts a run or invocation with a fresh budget and an optional deadline. */
  begin(budget: number, timeoutMs: number | null): void {
    this.spent = 0;
    this.budget = budget;
    this.tripped = null;
    this.timeoutMs = timeoutMs;
    this.deadline = timeoutMs === null ? Number.POSITIVE_INFINITY : performance.now() + timeoutMs;
    this.grant(Math.min(FUEL_CHUNK, budget));
  }

  /** Ends a run or invocation and returns the fuel it used. */
  end(): number {
    this.settle();
    this.grant(0);
    return this.spent;
  }

  /** Fuel used so far in the current run (for metering mid-run). */
  get used(): number {
    if (this.global === null) return this.spent;
    return this.spent + this.granted - Number(this.global.value);
  }

  get deadlineMs(): number {
    return this.deadline;
  }

  /** The `wasmatrix.fuel` import: called by the guest when its counter goes negative. */
  readonly onFuel = (): void => {
    if (this.global === null) this.spent += UNBOUND_CHARGE;
    this.settle();
    if (this.tripped !== null) {
      this.grant(0);
      throw this.tripped;
    }
    if (this.spent > this.budget) {
      this.trip(
        new FuelTrap("fuel_exhausted", `fuel exhausted: used ${this.spent} of a budget of ${this.budget}`),
      );
    }
    this.checkDeadline();
    this.grant(Math.min(FUEL_CHUNK, this.budget - this.spent));
  };

  /** Throws a timeout trap if the deadline has passed (also used by sched_yield and host calls). */
  checkDeadline(): void {
    if (performance.now() > this.deadline) {
      this.trip(new FuelTrap("timeout", `deadline of ${this.timeoutMs} ms exceeded`));
    }
  }

  /** Milliseconds left before the deadline (Infinity when there is none). */
  remainingMs(): number {
    return this.deadline - performance.now();
  }

  private trip(trap: FuelTrap): never {
    this.tripped = trap;
    // Settled first: a deadline seen in a sleep or a host call, between refills, would otherwise
    // forget what the guest burnt since the last refill (an invocation ended by its timeout in
    // its first chunk reported fuelUsed 0).
    this.settle();
    this.grant(0);
    throw trap;
  }

  private settle(): void {
    if (this.global === null) return;
    this.spent += this.granted - Number(this.global.value);
    this.granted = Number(this.global.value);
  }

  private grant(amount: number): void {
    this.granted = amount;
    if (this.global !== null) this.global.value = BigInt(amount);
  }
}

import { WasiErrno } from "./errno.js";
import type { GuestMemory } from "./memory.js";

/** preview1 `eventtype`, also the tag of a `subscription`. */
export const EventType = { CLOCK: 0, FD_READ: 1, FD_WRITE: 2 } as const;

/** `subscription`: userdata u64 @0, tag u8 @8, then the union from @16. */
export const SUBSCRIPTION_BYTES = 48;
/** `event`: userdata u64 @0, error u16 @8, type u8 @10, fd_readwrite { nbytes u64 @16, flags u16 @24 }. */
export const EVENT_BYTES = 32;
/** `subclockflags` bit 0: the timeout is an absolute time on the subscription's clock. */
const SUBSCRIPTION_CLOCK_ABSTIME = 1;
/** `eventrwflags` bit 0: the peer has closed; for stdin, it is at its end. */
export const EVENT_FD_READWRITE_HANGUP = 1;

export interface PollEvent {
  userdata: bigint;
  error: number;
  type: number;
  nbytes?: bigint;
  flags?: number;
}

export interface PollHost {
  /** The clock's current time, or null for a clock id that does not exist. */
  now(clockId: number): bigint | null;
  sleep(ns: bigint): void;
  /** The event for an fd subscription, which is always ready at once: stdio never blocks. */
  fdEvent(
    type: typeof EventType.FD_READ | typeof EventType.FD_WRITE,
    fd: number,
    userdata: bigint,
  ): PollEvent;
}

interface ClockWait {
  userdata: bigint;
  remainingNs: bigint;
}

/**
 * `poll_oneoff`. Only clocks can make it wait, so it either returns the fd events that are ready
 * now (with any clock already expired), or sleeps until the nearest clock and reports every clock
 * due by then. Everything is read and checked before the sleep and before any event is written.
 */
export function pollOneoff(
  memory: GuestMemory,
  inPtr: number,
  outPtr: number,
  count: number,
  neventsPtr: number,
  host: PollHost,
): number {
  // POSIX poll with nothing to wait for would block forever; preview1 hosts refuse it.
  if (count === 0) return WasiErrno.INVAL;
  memory.check(inPtr, count * SUBSCRIPTION_BYTES);
  memory.check(outPtr, count * EVENT_BYTES);
  memory.check(neventsPtr, 4);
  const ready: PollEvent[] = [];
  const waits: ClockWait[] = [];
  for (let i = 0; i < count; i++) {
    const base = inPtr + i * SUBSCRIPTION_BYTES;
    const userdata = memory.u64(base);
    const tag = memory.u8(base + 8);
    if (tag === EventType.CLOCK) {
      const clockId = memory.u32(base + 16);
      const timeout = memory.u64(base + 24);
      const absolute = (memory.u16(base + 40) & SUBSCRIPTION_CLOCK_ABSTIME) !== 0;
      const now = host.now(clockId);
      if (now === null) {
        ready.push({ userdata, error: WasiErrno.INVAL, type: EventType.CLOCK });
        continue;
      }
      const remaining = absolute ? timeout - now : timeout;
      waits.push({ userdata, remainingNs: remaining > 0n ? remaining : 0n });
    } else if (tag === EventType.FD_READ || tag === EventType.FD_WRITE) {
      ready.push(host.fdEvent(tag, memory.u32(base + 16), userdata));
    } else {
      return WasiErrno.INVAL;
    }
  }
  let dueNs = 0n;
  if (ready.length === 0) {
    // Every subscription was a clock, and there is at least one.
    dueNs = waits[0]!.remainingNs;
    for (const wait of waits) if (wait.remainingNs < dueNs) dueNs = wait.remainingNs;
    if (dueNs > 0n) host.sleep(dueNs);
  }
  for (const wait of waits) {
    if (wait.remainingNs <= dueNs) ready.push({ userdata: wait.userdata, error: 0, type: EventType.CLOCK });
  }
  memory.view8(outPtr, ready.length * EVENT_BYTES).fill(0);
  ready.forEach((event, i) => {
    const base = outPtr + i * EVENT_BYTES;
    memory.setU64(base, event.userdata);
    memory.setU16(base + 8, event.error);
    memory.setU8(base + 10, event.type);
    memory.setU64(base + 16, event.nbytes ?? 0n);
    memory.setU16(base + 24, event.flags ?? 0);
  });
  memory.setU32(neventsPtr, ready.length);
  return WasiErrno.SUCCESS;
}

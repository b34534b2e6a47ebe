import { describe, expect, it } from "vitest";
import { WasiErrno } from "./index.js";
import { EventType } from "./poll.js";
import { type Probe, probe } from "./probe.fixture.js";

const silent = { write() {} };
const SUBS = 1024;
const EVENTS = 4096;
const NEVENTS = 64;
const MS = 1_000_000n;
const NOW = 5_000n * MS;

type Sub =
  | { userdata: bigint; clock: number; timeout: bigint; abstime?: boolean }
  | { userdata: bigint; fd: number; type: typeof EventType.FD_READ | typeof EventType.FD_WRITE };

function subscribe(p: Probe, subs: Sub[]): void {
  const view = p.view();
  subs.forEach((sub, i) => {
    const base = SUBS + i * 48;
    p.bytes().fill(0xaa, base, base + 48);
    view.setBigUint64(base, sub.userdata, true);
    if ("clock" in sub) {
      view.setUint8(base + 8, EventType.CLOCK);
      view.setUint32(base + 16, sub.clock, true);
      view.setBigUint64(base + 24, sub.timeout, true);
      view.setBigUint64(base + 32, 0n, true);
      view.setUint16(base + 40, sub.abstime ? 1 : 0, true);
    } else {
      view.setUint8(base + 8, sub.type);
      view.setUint32(base + 16, sub.fd, true);
    }
  });
}

function events(p: Probe) {
  const view = p.view();
  return Array.from({ length: view.getUint32(NEVENTS, true) }, (_, i) => {
    const base = EVENTS + i * 32;
    return {
      userdata: view.getBigUint64(base, true),
      error: view.getUint16(base + 8, true),
      type: view.getUint8(base + 10),
      nbytes: view.getBigUint64(base + 16, true),
      flags: view.getUint16(base + 24, true),
    };
  });
}

async function poller(stdin?: Uint8Array) {
  const sleeps: bigint[] = [];
  const p = await probe({
    args: [],
    env: {},
    stdout: silent,
    stderr: silent,
    monotonic: () => NOW,
    now: () => NOW,
    sleep: (ns) => sleeps.push(ns),
    ...(stdin === undefined ? {} : { stdin }),
  });
  return { p, sleeps };
}

describe("WASI poll_oneoff", () => {
  it("sleeps until the nearest clock and reports only the clocks due by then", async () => {
    const { p, sleeps } = await poller();
    subscribe(p, [
      { userdata: 11n, clock: 1, timeout: 5n * MS },
      { userdata: 22n, clock: 1, timeout: 9n * MS },
      { userdata: 33n, clock: 0, timeout: NOW + 3n * MS, abstime: true },
      { userdata: 44n, clock: 1, timeout: 3n * MS },
    ]);
    expect(p.call["poll_oneoff"]!(SUBS, EVENTS, 4, NEVENTS)).toBe(WasiErrno.SUCCESS);
    expect(sleeps).toEqual([3n * MS]);
    expect(events(p)).toEqual([
      { userdata: 33n, error: 0, type: EventType.CLOCK, nbytes: 0n, flags: 0 },
      { userdata: 44n, error: 0, type: EventType.CLOCK, nbytes: 0n, flags: 0 },
    ]);
  });

  it("fires an absolute clock already in the past without sleeping", async () => {
    const { p, sleeps } = await poller();
    subscribe(p, [
      { userdata: 1n, clock: 1, timeout: NOW - MS, abstime: true },
      { userdata: 2n, clock: 1, timeout: 1000n * MS },
    ]);
    expect(p.call["poll_oneoff"]!(SUBS, EVENTS, 2, NEVENTS)).toBe(WasiErrno.SUCCESS);
    expect(sleeps).toEqual([]);
    expect(events(p).map((e) => e.userdata)).toEqual([1n]);
  });

  it("returns fd events at once: stdin readable, stdout writable, other fds BADF", async () => {
    const { p, sleeps } = await poller(new TextEncoder().encode("abc"));
    subscribe(p, [
      { userdata: 1n, clock: 1, timeout: 1000n * MS },
      { userdata: 2n, fd: 0, type: EventType.FD_READ },
      { userdata: 3n, fd: 1, type: EventType.FD_WRITE },
      { userdata: 4n, fd: 7, type: EventType.FD_READ },
      { userdata: 5n, fd: 0, type: EventType.FD_WRITE },
    ]);
    expect(p.call["poll_oneoff"]!(SUBS, EVENTS, 5, NEVENTS)).toBe(WasiErrno.SUCCESS);
    expect(sleeps).toEqual([]);
    const got = events(p);
    expect(got.map((e) => [e.userdata, e.error, e.type])).toEqual([
      [2n, 0, EventType.FD_READ],
      [3n, 0, EventType.FD_WRITE],
      [4n, WasiErrno.BADF, EventType.FD_READ],
      [5n, WasiErrno.BADF, EventType.FD_WRITE],
    ]);
    expect(got[0]).toMatchObject({ nbytes: 3n, flags: 0 });
  });

  it("flags stdin at its end as hung up", async () => {
    const { p } = await poller();
    subscribe(p, [{ userdata: 9n, fd: 0, type: EventType.FD_READ }]);
    expect(p.call["poll_oneoff"]!(SUBS, EVENTS, 1, NEVENTS)).toBe(WasiErrno.SUCCESS);
    expect(events(p)).toEqual([{ userdata: 9n, error: 0, type: EventType.FD_READ, nbytes: 0n, flags: 1 }]);
  });

  it("reports an unknown clock as an INVAL event instead of waiting on it", async () => {
    const { p, sleeps } = await poller();
    subscribe(p, [
      { userdata: 1n, clock: 9, timeout: MS },
      { userdata: 2n, clock: 1, timeout: MS },
    ]);
    expect(p.call["poll_oneoff"]!(SUBS, EVENTS, 2, NEVENTS)).toBe(WasiErrno.SUCCESS);
    expect(sleeps).toEqual([]);
    expect(events(p).map((e) => [e.userdata, e.error])).toEqual([[1n, WasiErrno.INVAL]]);
  });

  it("refuses zero subscriptions and unknown tags with INVAL", async () => {
    const { p } = await poller();
    expect(p.call["poll_oneoff"]!(SUBS, EVENTS, 0, NEVENTS)).toBe(WasiErrno.INVAL);
    subscribe(p, [{ userdata: 1n, clock: 1, timeout: MS }]);
    p.view().setUint8(SUBS + 8, 3);
    expect(p.call["poll_oneoff"]!(SUBS, EVENTS, 1, NEVENTS)).toBe(WasiErrno.INVAL);
  });

  it("returns FAULT before sleeping when subscriptions, events or the count lie past memory", async () => {
    const { p, sleeps } = await poller();
    const end = p.memory.buffer.byteLength;
    subscribe(p, [{ userdata: 1n, clock: 1, timeout: MS }]);
    expect(p.call["poll_oneoff"]!(end - 40, EVENTS, 1, NEVENTS)).toBe(WasiErrno.FAULT);
    expect(p.call["poll_oneoff"]!(SUBS, end - 16, 1, NEVENTS)).toBe(WasiErrno.FAULT);
    expect(p.call["poll_oneoff"]!(SUBS, EVENTS, 1, end - 2)).toBe(WasiErrno.FAULT);
    expect(p.call["poll_oneoff"]!(SUBS, EVENTS, 0x1000_0000, NEVENTS)).toBe(WasiErrno.FAULT);
    expect(sleeps).toEqual([]);
  });

  it("lets an error thrown by the host's sleep propagate to the caller", async () => {
    const p = await probe({
      args: [],
      env: {},
      stdout: silent,
      stderr: silent,
      sleep: () => {
        throw new Error("deadline passed");
      },
    });
    subscribe(p, [{ userdata: 1n, clock: 1, timeout: MS }]);
    expect(() => p.call["poll_oneoff"]!(SUBS, EVENTS, 1, NEVENTS)).toThrow("deadline passed");
  });

  it("really sleeps by default", async () => {
    const p = await probe({ args: [], env: {}, stdout: silent, stderr: silent });
    subscribe(p, [{ userdata: 1n, clock: 1, timeout: 20n * MS }]);
    const started = performance.now();
    expect(p.call["poll_oneoff"]!(SUBS, EVENTS, 1, NEVENTS)).toBe(WasiErrno.SUCCESS);
    expect(performance.now() - started).toBeGreaterThanOrEqual(19);
    expect(events(p).map((e) => e.userdata)).toEqual([1n]);
  });
});

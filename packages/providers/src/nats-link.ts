import { ErrorCode, WasmatrixError } from "@wasmatrix/core";
import {
  connect,
  Events,
  type JetStreamClient,
  type JetStreamManager,
  type NatsConnection,
  ErrorCode as NatsErrorCode,
} from "nats";
import { natsFailure, writeRefused } from "./nats-errors.js";

/** Longest a call waits for NATS to (re)connect before it fails with PROVIDER_UNAVAILABLE. */
export const DEFAULT_UNAVAILABLE_AFTER_MS = 2_000;
/** Pause between reconnect attempts. */
export const DEFAULT_RECONNECT_TIME_WAIT_MS = 250;
/** How often the client pings the server; two missed pongs mark the connection stale. */
export const DEFAULT_PING_INTERVAL_MS = 10_000;
/** Timeout of one JetStream API request. */
export const DEFAULT_JETSTREAM_TIMEOUT_MS = 5_000;

export interface NatsLinkOptions {
  /** `nats://host:port`, or several for a cluster. */
  servers: string | string[];
  /** Connection name shown by the server's monitoring. @default "wasmatrix" */
  name?: string;
  /** @default DEFAULT_UNAVAILABLE_AFTER_MS */
  unavailableAfterMs?: number;
  /** @default DEFAULT_RECONNECT_TIME_WAIT_MS */
  reconnectTimeWaitMs?: number;
  /** @default DEFAULT_PING_INTERVAL_MS */
  pingIntervalMs?: number;
  /** @default DEFAULT_JETSTREAM_TIMEOUT_MS */
  jetstreamTimeoutMs?: number;
}

/**
 * One NATS connection shared by the providers of a process. It connects on first use, retries
 * forever in the background (the client keeps its subscriptions across reconnects), and lets a
 * call wait only a bounded time for a connection: a caller learns PROVIDER_UNAVAILABLE instead
 * of hanging while the server is down.
 */
export class NatsLink {
  readonly servers: string[];
  readonly unavailableAfterMs: number;
  private readonly options: NatsLinkOptions;
  private pending: Promise<NatsConnection> | null = null;
  private nc: NatsConnection | null = null;
  private up = false;
  private waiters = new Set<() => void>();
  private closed = false;
  /** Calls under `guard`, failed together when the connection stays down too long. */
  private readonly guarded = new Set<(reason: GiveUp) => void>();
  private downTimer: NodeJS.Timeout | null = null;
  private readonly reconnectListeners = new Set<() => void>();
  /** Why the last connection attempt failed, for error messages. */
  private lastError = "";
  private js: JetStreamClient | null = null;
  private jsm: Promise<JetStreamManager> | null = null;

  constructor(options: NatsLinkOptions) {
    this.options = options;
    this.servers = Array.isArray(options.servers) ? options.servers : [options.servers];
    if (this.servers.length === 0) {
      throw new WasmatrixError(ErrorCode.INVALID_REQUEST, "nats: name at least one server URL");
    }
    this.unavailableAfterMs = options.unavailableAfterMs ?? DEFAULT_UNAVAILABLE_AFTER_MS;
  }

  /** Whether the connection is up right now. */
  get connected(): boolean {
    return this.up;
  }

  /**
   * The connection, once it is up; waits at most `waitMs` (default `unavailableAfterMs`) for a
   * first connection or a reconnection, then throws PROVIDER_UNAVAILABLE.
   */
  async connection(waitMs = this.unavailableAfterMs): Promise<NatsConnection> {
    if (this.closed) throw this.unavailable("the NATS connection is closed");
    const nc = this.nc;
    if (nc !== null && this.up) return nc;
    this.pending ??= this.open();
    let timer: NodeJS.Timeout | undefined;
    let release: (() => void) | undefined;
    try {
      return await Promise.race([
        (async () => {
          const opened = await this.pending!;
          while (!this.up && !this.closed) {
            await new Promise<void>((resolve) => {
              release = resolve;
              this.waiters.add(resolve);
            });
          }
          if (this.closed) throw this.unavailable("the NATS connection is closed");
          return opened;
        })(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                this.unavailable(
                  `NATS at ${this.servers.join(", ")} is not reachable${this.lastError ? ` (${this.lastError})` : ""}`,
                ),
              ),
            Math.max(0, waitMs),
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
      if (release !== undefined) this.waiters.delete(release);
    }
  }

  /**
   * Runs one provider call: settles with `work`, unless it takes longer than `timeoutMs`
   * (TIMEOUT, or PROVIDER_UNAVAILABLE when the connection is down by then) or the connection goes
   * down for `unavailableAfterMs` while it runs (PROVIDER_UNAVAILABLE). `work` sends every request
   * through `call.send`, which makes the answer true:
   *
   * - once the caller has been answered, the call sends nothing more, so a refusal (PROVIDER_UNAVAILABLE,
   *   TIMEOUT) means nothing was written and nothing will be, even when NATS comes back while `work`
   *   is still waiting for it;
   * - a write is sent only while the connection is up, never left in the client's buffer for a
   *   reconnection to deliver;
   * - a write sent whose answer is lost (the connection went away, a timeout) makes the call's
   *   failure OUTCOME_UNKNOWN, whatever ended it.
   */
  async guard<T>(
    what: string,
    timeoutMs: number,
    work: (call: GuardedCall) => Promise<T>,
    waitMs = this.unavailableAfterMs,
  ): Promise<T> {
    const call = new Call(this, what, waitMs);
    let timer: NodeJS.Timeout | undefined;
    let giveUp: ((reason: GiveUp) => void) | undefined;
    try {
      return await Promise.race([
        work(call).catch((error: unknown) => {
          throw call.unsure(false) ? this.outcomeUnknown(what, error) : error;
        }),
        new Promise<never>((_, reject) => {
          giveUp = (reason) => {
            call.answered = true;
            const timedOut = reason === "timeout" && this.up;
            if (call.unsure(timedOut)) {
              reject(
                this.outcomeUnknown(
                  what,
                  timedOut ? `NATS did not answer within ${timeoutMs} ms` : "NATS went away",
                ),
              );
            } else if (timedOut) {
              reject(
                new WasmatrixError(ErrorCode.TIMEOUT, `${what}: NATS did not answer within ${timeoutMs} ms`, {
                  timeoutMs,
                }),
              );
            } else reject(this.unavailable(`${what}: NATS went away while the call was under way`));
          };
          this.guarded.add(giveUp);
          timer = setTimeout(() => giveUp?.("timeout"), Math.max(1, timeoutMs));
        }),
      ]);
    } finally {
      call.answered = true;
      clearTimeout(timer);
      if (giveUp !== undefined) this.guarded.delete(giveUp);
    }
  }

  /** Calls `listener` after every reconnection; returns the function that stops it. */
  onReconnect(listener: () => void): () => void {
    this.reconnectListeners.add(listener);
    return () => this.reconnectListeners.delete(listener);
  }

  /** A JetStream client on the connection (waits for it like `connection`). */
  async jetstream(waitMs?: number): Promise<JetStreamClient> {
    const nc = await this.connection(waitMs);
    this.js ??= nc.jetstream({ timeout: this.options.jetstreamTimeoutMs ?? DEFAULT_JETSTREAM_TIMEOUT_MS });
    return this.js;
  }

  async jetstreamManager(waitMs?: number): Promise<JetStreamManager> {
    const nc = await this.connection(waitMs);
    this.jsm ??= nc
      .jetstreamManager({ timeout: this.options.jetstreamTimeoutMs ?? DEFAULT_JETSTREAM_TIMEOUT_MS })
      .catch((error: unknown) => {
        this.jsm = null;
        throw natsFailure(error, "jetstream", this, "jetstream");
      });
    return this.jsm;
  }

  /** Flushes what was published and closes the connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.up = false;
    if (this.downTimer !== null) clearTimeout(this.downTimer);
    this.downTimer = null;
    this.wake();
    const nc = this.nc;
    if (nc === null || nc.isClosed()) return;
    // Draining needs the server; while it is down, close at once instead of waiting for it.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      nc.drain().catch(() => undefined),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, this.unavailableAfterMs);
      }),
    ]);
    clearTimeout(timer);
    if (!nc.isClosed()) await nc.close();
  }

  /** The failure of a call that sent a write and lost its answer; `cause` is why, or the error. */
  outcomeUnknown(what: string, cause: unknown): WasmatrixError {
    const why =
      typeof cause === "string"
        ? cause
        : WasmatrixError.is(cause) || cause instanceof Error
          ? cause.message
          : String(cause);
    return new WasmatrixError(
      ErrorCode.OUTCOME_UNKNOWN,
      `${what}: the write was sent but its answer was lost (${why}); it may or may not have been applied, so read the current state before retrying`,
      { operation: what, servers: this.servers },
      typeof cause === "string" ? {} : { cause },
    );
  }

  unavailable(message: string): WasmatrixError {
    return new WasmatrixError(
      ErrorCode.PROVIDER_UNAVAILABLE,
      `${message}; the call was not made, try again once NATS is back`,
      { servers: this.servers },
    );
  }

  /**
   * Connects, retrying until it succeeds or the link is closed. The client's own
   * `waitOnFirstConnect` would do the same but gives no handle to stop it while it waits.
   */
  private async open(): Promise<NatsConnection> {
    const reconnectTimeWait = this.options.reconnectTimeWaitMs ?? DEFAULT_RECONNECT_TIME_WAIT_MS;
    for (;;) {
      if (this.closed) throw this.unavailable("the NATS connection is closed");
      let nc: NatsConnection;
      try {
        nc = await connect({
          servers: this.servers,
          name: this.options.name ?? "wasmatrix",
          reconnect: true,
          maxReconnectAttempts: -1,
          reconnectTimeWait,
          reconnectJitter: 50,
          pingInterval: this.options.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS,
          maxPingOut: 2,
          timeout: this.unavailableAfterMs,
        });
      } catch (error) {
        const failure = natsFailure(error, "connect", { connected: false });
        this.lastError = failure.message;
        await new Promise((resolve) => setTimeout(resolve, reconnectTimeWait));
        continue;
      }
      if (this.closed) {
        await nc.close();
        throw this.unavailable("the NATS connection is closed");
      }
      this.nc = nc;
      this.up = true;
      this.wake();
      void this.watch(nc);
      return nc;
    }
  }

  private async watch(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) {
      if (status.type === Events.Disconnect) this.down();
      if (status.type === Events.Reconnect) {
        this.up = true;
        if (this.downTimer !== null) clearTimeout(this.downTimer);
        this.downTimer = null;
        for (const listener of [...this.reconnectListeners]) listener();
        this.wake();
      }
    }
    this.down();
    this.wake();
  }

  private down(): void {
    this.up = false;
    this.downTimer ??= setTimeout(() => {
      this.downTimer = null;
      if (this.up) return;
      for (const giveUp of [...this.guarded]) giveUp("down");
      this.guarded.clear();
    }, this.unavailableAfterMs);
  }

  private wake(): void {
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const resolve of waiters) resolve();
  }
}

/** Why `guard` gave up on a call before its work settled. */
type GiveUp = "timeout" | "down";

/**
 * What a request sent under `NatsLink.guard` does to the server, for what the caller is told when
 * its answer does not come:
 * - `read` changes nothing;
 * - `write` changes state (a keyvalue write, a publish): without NATS's answer, OUTCOME_UNKNOWN;
 * - `request` is a core request to whoever subscribes: a reply that does not come in time while
 *   connected is the documented TIMEOUT (the responder may have acted, as with any request); a
 *   reply lost with the connection is OUTCOME_UNKNOWN.
 */
export type SendKind = "read" | "write" | "request";

/** The sending side of one call under `NatsLink.guard`. */
export interface GuardedCall {
  /**
   * Waits for the connection (at most the guard's wait), then sends `request` at once; throws
   * PROVIDER_UNAVAILABLE, sending nothing, when the caller has been answered meanwhile or the
   * connection is down.
   */
  send<T>(kind: SendKind, request: (nc: NatsConnection) => Promise<T>): Promise<T>;
}

class Call implements GuardedCall {
  /** The guard has answered the caller: nothing more may be sent. */
  answered = false;
  /** Writes sent whose answer has not come, or was lost. */
  private writes = 0;
  /** Requests sent whose reply has not come, or was lost with the connection. */
  private requests = 0;

  constructor(
    private readonly link: NatsLink,
    private readonly what: string,
    private readonly waitMs: number,
  ) {}

  /**
   * Whether something sent may have taken effect without the call knowing; `timedOut`: the call
   * ends because its time ran out while connected, which is a request's documented TIMEOUT.
   */
  unsure(timedOut: boolean): boolean {
    return this.writes > 0 || (this.requests > 0 && !timedOut);
  }

  async send<T>(kind: SendKind, request: (nc: NatsConnection) => Promise<T>): Promise<T> {
    const nc = await this.link.connection(this.waitMs);
    if (this.answered) throw this.link.unavailable(`${this.what}: abandoned, the caller was answered`);
    // The client buffers what is sent while it is disconnected and may deliver it on
    // reconnection, after the caller was told no; `connection` resolved a moment ago, so look
    // again. (nats.js has no option to turn that buffer off, unlike Go's ReconnectBufSize.)
    if (!this.link.connected) throw this.link.unavailable(`${this.what}: NATS went away`);
    if (kind === "read") return request(nc);
    const settle = () => {
      if (kind === "write") this.writes--;
      else this.requests--;
    };
    if (kind === "write") this.writes++;
    else this.requests++;
    try {
      const answer = await request(nc);
      settle();
      return answer;
    } catch (error) {
      if (writeRefused(error) || (kind === "request" && timedOutConnected(error, this.link))) settle();
      throw error;
    }
  }
}

function timedOutConnected(error: unknown, link: NatsLink): boolean {
  return (error as { code?: string } | null)?.code === NatsErrorCode.Timeout && link.connected;
}

import type { Etcd3, IKeyValue, Watcher } from "etcd3";

/** After a watcher fails for good (e.g. its revision was compacted), list and watch again after this. */
const RESYNC_DELAY_MS = 500;

export interface PrefixWatchHandlers<T> {
  /** A record appeared or changed (the initial list arrives as puts too). */
  onPut(record: T): void;
  /** A record is gone: deleted, or its lease expired or was revoked. */
  onDelete(id: string): void;
  /** A value under the prefix that is not a valid record; it is otherwise ignored. */
  onInvalid?(key: string, error: Error): void;
  /** The watch lost etcd (it reconnects on its own) or had to list again. */
  onDisconnected?(error: Error): void;
  onReconnected?(): void;
}

export interface PrefixWatch {
  /** Stops watching. */
  close(): Promise<void>;
}

/**
 * Lists a prefix, hands every record to `onPut`, then watches from the revision after that list,
 * so nothing falls between. etcd3's watcher survives etcd restarts by itself (it resumes from the
 * last revision it saw); if the watch is cancelled for good, the prefix is listed again and the
 * ids that vanished meanwhile are reported as deleted.
 */
export async function watchPrefix<T>(
  client: Etcd3,
  prefix: string,
  decode: (key: string, value: string) => { id: string; record: T },
  handlers: PrefixWatchHandlers<T>,
): Promise<PrefixWatch> {
  const known = new Set<string>();
  let watcher: Watcher | null = null;
  let closed = false;
  let resync: NodeJS.Timeout | null = null;
  // etcd3 reports every failed reconnection attempt; the handlers hear one per outage.
  let down = false;
  const disconnected = (error: Error) => {
    if (down) return;
    down = true;
    handlers.onDisconnected?.(error);
  };
  const reconnected = () => {
    if (!down) return;
    down = false;
    handlers.onReconnected?.();
  };

  const put = (kv: IKeyValue) => {
    const key = kv.key.toString();
    try {
      const { id, record } = decode(key, kv.value.toString());
      known.add(id);
      handlers.onPut(record);
    } catch (error) {
      handlers.onInvalid?.(key, error as Error);
    }
  };
  const remove = (kv: IKeyValue) => {
    const id = kv.key.toString().slice(prefix.length);
    if (!known.delete(id)) return;
    handlers.onDelete(id);
  };

  const start = async () => {
    const listed = await client.getAll().prefix(prefix).exec();
    const present = new Set<string>();
    for (const kv of listed.kvs) {
      present.add(kv.key.toString().slice(prefix.length));
      put(kv);
    }
    for (const id of [...known]) {
      if (present.has(id)) continue;
      known.delete(id);
      handlers.onDelete(id);
    }
    const next = (BigInt(listed.header.revision) + 1n).toString();
    const created = await client.watch().prefix(prefix).startRevision(next).create();
    if (closed) {
      await created.cancel();
      return;
    }
    watcher = created;
    created.on("put", put);
    created.on("delete", remove);
    created.on("disconnected", disconnected);
    created.on("connected", reconnected);
    created.on("error", (error) => {
      if (watcher !== created) return;
      watcher = null;
      disconnected(error);
      void created.cancel().catch(() => undefined);
      scheduleResync();
    });
  };

  const scheduleResync = () => {
    if (closed || resync !== null) return;
    resync = setTimeout(() => {
      resync = null;
      if (closed) return;
      start().then(reconnected, (error: unknown) => {
        disconnected(error as Error);
        scheduleResync();
      });
    }, RESYNC_DELAY_MS);
  };

  await start();
  return {
    async close() {
      closed = true;
      if (resync !== null) clearTimeout(resync);
      const current = watcher;
      watcher = null;
      await current?.cancel().catch(() => undefined);
    },
  };
}

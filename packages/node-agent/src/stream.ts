import { ErrorCode, WasmatrixError } from "@wasmatrix/core";

/**
 * Turns a push subscription into an async iterable that ends when `signal` aborts. The buffer is
 * bounded: a consumer that falls more than `maxBuffered` items behind gets an error instead of
 * the process's memory.
 */
export async function* followed<T>(
  subscribe: (push: (item: T) => void) => () => void,
  options: { signal?: AbortSignal; maxBuffered?: number; initial?: Iterable<T> } = {},
): AsyncGenerator<T> {
  const max = options.maxBuffered ?? 10_000;
  const queue: T[] = [];
  let overflow = false;
  let wake: (() => void) | null = null;
  const unsubscribe = subscribe((item) => {
    if (queue.length >= max) overflow = true;
    else queue.push(item);
    wake?.();
  });
  const onAbort = () => wake?.();
  options.signal?.addEventListener("abort", onAbort);
  try {
    if (options.initial !== undefined) yield* options.initial;
    while (options.signal?.aborted !== true) {
      if (overflow) {
        throw new WasmatrixError(
          ErrorCode.RESOURCE_EXHAUSTED,
          `stream consumer fell more than ${max} items behind; resume from the last one received`,
          { maxBuffered: max },
        );
      }
      const item = queue.shift();
      if (item !== undefined) {
        yield item;
        continue;
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      wake = null;
    }
  } finally {
    unsubscribe();
    options.signal?.removeEventListener("abort", onAbort);
  }
}

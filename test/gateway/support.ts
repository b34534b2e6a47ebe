import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { request } from "undici";

export const HTTP_ECHO = fileURLToPath(new URL("../../examples/build/http_echo.wasm", import.meta.url));

export async function httpEcho(): Promise<Buffer> {
  return readFile(HTTP_ECHO);
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One request through undici, the body read whole. */
export async function call(
  base: string,
  path: string,
  options: {
    method?: string;
    body?: Buffer | string;
    headers?: Record<string, string>;
    signal?: AbortSignal;
  } = {},
): Promise<Answer> {
  const res = await request(`${base}${path}`, {
    method: (options.method ?? "GET") as "GET",
    ...(options.body === undefined ? {} : { body: options.body }),
    headers: options.headers ?? {},
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, body };
}

/** Polls until `check` returns a value (not undefined), or fails after `timeoutMs`. */
export async function until<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}${last === undefined ? "" : `: ${String(last)}`}`);
}

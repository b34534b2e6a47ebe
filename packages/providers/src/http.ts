import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { isIP } from "node:net";
import { ErrorCode, type PermissionRequest, WasmatrixError } from "@wasmatrix/core";
import { Agent, request, errors as undiciErrors } from "undici";
import { base64Field, jsonBytes, parseObject, stringField } from "./json.js";
import type { CapabilityProvider, ProviderCall } from "./provider.js";

export interface HttpProviderOptions {
  /** Largest response body kept, in bytes; a larger one fails the call. Default 1 MiB. */
  maxResponseBytes?: number;
  /** Per-request timeout when the guest asks for none. Default 10 s. */
  timeoutMs?: number;
  /** Let guests reach loopback, link-local and private addresses. Default false. */
  allowPrivateAddresses?: boolean;
}

const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

/** Whether an address is loopback, private, link-local, CGNAT or unspecified. */
export function isPrivateAddress(address: string): boolean {
  const version = isIP(address);
  if (version === 4) {
    const [a = 0, b = 0] = address.split(".").map(Number);
    return (
      a === 0 ||
      a === 10 ||
      a === 127 ||
      (a === 100 && b >= 64 && b < 128) ||
      (a === 169 && b === 254) ||
      (a === 172 && b >= 16 && b < 32) ||
      (a === 192 && b === 168)
    );
  }
  if (version === 6) {
    const lower = address.toLowerCase();
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
    if (mapped !== null) return isPrivateAddress(mapped[1]!);
    return (
      lower === "::" ||
      lower === "::1" ||
      lower.startsWith("fc") ||
      lower.startsWith("fd") ||
      /^fe[89ab]/.test(lower)
    );
  }
  return false;
}

function refusePrivate(host: string, address: string): WasmatrixError {
  return new WasmatrixError(
    ErrorCode.PERMISSION_DENIED,
    `http: ${host} resolves to the private address ${address}; private and loopback addresses are refused unless the provider allows them`,
    { host, address },
  );
}

/**
 * `wasmatrix:http`: outgoing HTTP requests on undici. The router has already checked the host
 * against the assignment's `http:domain:` grants; this provider adds what only it can check —
 * where the name resolves to, how long the request takes, how big the answer is.
 */
export class HttpProvider implements CapabilityProvider {
  readonly capability = "http" as const;
  private readonly agent: Agent;
  private readonly maxResponseBytes: number;
  private readonly timeoutMs: number;
  private readonly allowPrivate: boolean;

  constructor(options: HttpProviderOptions = {}) {
    this.maxResponseBytes = options.maxResponseBytes ?? 1024 * 1024;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.allowPrivate = options.allowPrivateAddresses ?? false;
    const allowPrivate = this.allowPrivate;
    this.agent = new Agent({
      connect: {
        // Checked at connect time, on the address actually dialled, so DNS rebinding can't slip
        // a private address past a check made earlier.
        lookup: (hostname, options, callback) => {
          dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
            if (error) return callback(error, "", 0);
            const list = addresses as LookupAddress[];
            const bad = allowPrivate ? undefined : list.find((a) => isPrivateAddress(a.address));
            if (bad !== undefined) return callback(refusePrivate(hostname, bad.address), "", 0);
            if ((options as { all?: boolean }).all)
              return (callback as (e: null, a: LookupAddress[]) => void)(null, list);
            const first = list[0]!;
            callback(null, first.address, first.family);
          });
        },
      },
    });
  }

  required(operation: string, payload: Uint8Array): PermissionRequest {
    return httpRequired(operation, payload);
  }

  async handle(call: ProviderCall): Promise<Uint8Array> {
    const body = parseObject(call.payload, "http request");
    const url = this.target(body);
    const method = typeof body["method"] === "string" ? body["method"].toUpperCase() : "GET";
    if (!METHODS.has(method)) {
      throw new WasmatrixError(ErrorCode.INVALID_REQUEST, `http: unsupported method '${method}'`, { method });
    }
    const host = url.hostname.replace(/^\[|\]$/g, "");
    if (!this.allowPrivate && isIP(host) !== 0 && isPrivateAddress(host)) throw refusePrivate(host, host);
    const headers = this.headers(body["headers"]);
    const requested = typeof body["timeoutMs"] === "number" ? body["timeoutMs"] : this.timeoutMs;
    const timeout = Math.max(1, Math.min(requested, this.timeoutMs, call.remainingMs));
    const requestBody =
      base64Field(body, "bodyBase64", "http request") ??
      (typeof body["body"] === "string" ? body["body"] : undefined);
    const signal = AbortSignal.timeout(timeout);
    try {
      const response = await request(url, {
        method: method as "GET",
        headers,
        ...(requestBody === undefined ? {} : { body: requestBody }),
        dispatcher: this.agent,
        signal,
        headersTimeout: timeout,
        bodyTimeout: timeout,
      });
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        size += chunk.byteLength;
        if (size > this.maxResponseBytes) {
          response.body.destroy();
          throw new WasmatrixError(
            ErrorCode.RESOURCE_EXHAUSTED,
            `http: response from ${url.host} exceeds the cap of ${this.maxResponseBytes} bytes`,
            { maxBytes: this.maxResponseBytes },
          );
        }
        chunks.push(chunk);
      }
      const responseHeaders: Record<string, string> = {};
      for (const [name, value] of Object.entries(response.headers)) {
        if (value !== undefined) responseHeaders[name] = Array.isArray(value) ? value.join(", ") : value;
      }
      return jsonBytes({
        status: response.statusCode,
        headers: responseHeaders,
        body: Buffer.concat(chunks).toString("utf8"),
      });
    } catch (error) {
      if (WasmatrixError.is(error)) throw error;
      const cause = (error as { cause?: unknown }).cause;
      if (WasmatrixError.is(cause)) throw cause;
      if (
        signal.aborted ||
        error instanceof undiciErrors.HeadersTimeoutError ||
        error instanceof undiciErrors.BodyTimeoutError
      ) {
        throw new WasmatrixError(
          ErrorCode.TIMEOUT,
          `http: ${method} ${url.origin} took longer than ${timeout} ms`,
          {
            timeoutMs: timeout,
          },
        );
      }
      throw new WasmatrixError(
        ErrorCode.PROVIDER_UNAVAILABLE,
        `http: ${method} ${url.origin} failed: ${(error as Error).message}`,
        { url: url.origin },
      );
    }
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  private target(body: Record<string, unknown>): URL {
    return targetOf(body);
  }

  private headers(value: unknown): Record<string, string> {
    if (value === undefined) return {};
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw new WasmatrixError(ErrorCode.INVALID_REQUEST, "http: 'headers' must be an object of strings");
    }
    const headers: Record<string, string> = {};
    for (const [name, v] of Object.entries(value)) {
      if (typeof v !== "string") {
        throw new WasmatrixError(ErrorCode.INVALID_REQUEST, `http: header '${name}' must be a string`);
      }
      headers[name] = v;
    }
    return headers;
  }
}

/** The permission an http call needs: the host it would reach (a pure function, checked by the node). */
export function httpRequired(operation: string, payload: Uint8Array): PermissionRequest {
  if (operation !== "request") {
    throw new WasmatrixError(
      ErrorCode.INVALID_REQUEST,
      `http has no operation '${operation}'; use 'request'`,
      {
        operation,
      },
    );
  }
  return { kind: "http", host: targetOf(parseObject(payload, "http request")).hostname };
}

function targetOf(body: Record<string, unknown>): URL {
  const text = stringField(body, "url", "http request");
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new WasmatrixError(ErrorCode.INVALID_REQUEST, `http: '${text}' is not a URL`, { url: text });
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new WasmatrixError(ErrorCode.INVALID_REQUEST, `http: only http and https URLs are allowed`, {
      url: text,
    });
  }
  return url;
}

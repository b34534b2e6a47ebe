import { randomUUID } from "node:crypto";
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import {
  assertListenAllowed,
  ErrorCode,
  matchRoute,
  pickTarget,
  type Route,
  splitHostPort,
  WasmatrixError,
} from "@wasmatrix/core";
import { type Logger, silentLogger } from "@wasmatrix/core/logger";
import type * as pb from "@wasmatrix/proto";
import { decodeHttpResponse, encodeHttpRequest } from "./abi.js";
import { Directory } from "./directory.js";

export const DEFAULT_GATEWAY_ADDRESS = "127.0.0.1:8080";
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
/** Requests the gateway holds at once (reading, waiting, invoking); beyond it, 503 at once. */
export const DEFAULT_MAX_IN_FLIGHT = 1024;
/** Replicas tried for one request when an instance turns out not to be reachable. */
const MAX_ATTEMPTS = 3;

export interface GatewayOptions {
  /** The control plane: in process (`up`) or over gRPC (`wasmatrix gateway`). */
  api: pb.ControlPlaneApi;
  listen?: string;
  /** PEM certificate and key: serve HTTPS. */
  tls?: { cert: Buffer | string; key: Buffer | string };
  insecure?: boolean;
  maxBodyBytes?: number;
  maxInFlight?: number;
  refreshMs?: number;
  logger?: Logger;
}

export interface GatewayStats {
  inFlight: number;
  peakInFlight: number;
  served: number;
}

export interface Gateway {
  readonly address: string;
  readonly directory: Directory;
  stats(): GatewayStats;
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "transfer-encoding",
  "content-length",
  "upgrade",
  "proxy-connection",
  "te",
  "trailer",
  "x-request-id",
  "x-wasmatrix-instance",
]);
const EMPTY = new Uint8Array(0);
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The HTTP gateway: matches each request to a route, picks an instance (for a label route the
 * running one with the fewest outstanding requests), encodes the request for the guest's HTTP
 * handler (abi.ts) and invokes it through the control plane API, which forwards to the node
 * agent holding the instance. Stateless: routes and instances come from the control plane.
 */
export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const logger = options.logger ?? silentLogger;
  const listen = options.listen ?? DEFAULT_GATEWAY_ADDRESS;
  assertListenAllowed("the HTTP gateway", listen, {
    tls: options.tls !== undefined,
    insecure: options.insecure === true,
  });
  const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const maxInFlight = options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
  const directory = new Directory(options.api, {
    logger,
    ...(options.refreshMs === undefined ? {} : { refreshMs: options.refreshMs }),
  });
  await directory.start();
  const outstanding = new Map<string, number>();
  const stats: GatewayStats = { inFlight: 0, peakInFlight: 0, served: 0 };
  const load = (id: string) => outstanding.get(id) ?? 0;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = performance.now();
    const given = req.headers["x-request-id"];
    const requestId = typeof given === "string" && REQUEST_ID.test(given) ? given : randomUUID();
    res.setHeader("x-request-id", requestId);
    let instanceId = "";
    let routeName = "";
    const finish = (status: number, body: string | Uint8Array, headers: Record<string, string> = {}) => {
      if (res.headersSent || res.destroyed) return;
      res.statusCode = status;
      for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
      if (instanceId !== "") res.setHeader("x-wasmatrix-instance", instanceId);
      if (typeof body === "string") res.setHeader("content-type", "text/plain; charset=utf-8");
      res.end(body);
    };
    res.on("finish", () => {
      stats.served++;
      logger.info(
        {
          requestId,
          method: req.method,
          path: req.url,
          status: res.statusCode,
          route: routeName || undefined,
          instanceId: instanceId || undefined,
          ms: Math.round((performance.now() - started) * 100) / 100,
        },
        "http",
      );
    });

    const url = new URL(req.url ?? "/", "http://gateway");
    const match = matchRoute(directory.routes, {
      host: req.headers.host ?? "",
      method: req.method ?? "GET",
      path: url.pathname,
    });
    if (match.kind === "not_found") {
      req.resume();
      return finish(404, `no route for ${url.pathname}\n`);
    }
    if (match.kind === "method_not_allowed") {
      req.resume();
      return finish(405, `method ${req.method} not allowed\n`, { allow: match.allow.join(", ") });
    }
    const route = match.route;
    routeName = route.name;

    const declared = Number(req.headers["content-length"] ?? "0");
    if (declared > maxBody) {
      res.setHeader("connection", "close");
      req.resume();
      return finish(413, `request body over ${maxBody} bytes\n`);
    }
    // Without a length or chunked encoding a request has no body (RFC 9112 §6.3): no read to wait for.
    const hasBody =
      req.headers["content-length"] !== undefined || req.headers["transfer-encoding"] !== undefined;
    if (!hasBody) req.resume();
    const body = hasBody ? await readBody(req, maxBody) : EMPTY;
    if (body === "too_large") {
      res.setHeader("connection", "close");
      return finish(413, `request body over ${maxBody} bytes\n`);
    }
    if (body === "aborted") return;

    // The client leaving aborts the call: queued at its instance, it is dropped, never run.
    const abort = new AbortController();
    const onClose = () => {
      if (!res.writableFinished) abort.abort();
    };
    res.on("close", onClose);
    const headers: [string, string][] = [];
    for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
      headers.push([req.rawHeaders[i]!.toLowerCase(), req.rawHeaders[i + 1]!]);
    }
    headers.push(["x-request-id", requestId]);
    const payload = bufferOf(
      encodeHttpRequest({
        method: req.method ?? "GET",
        path: url.pathname,
        query: url.search.startsWith("?") ? url.search.slice(1) : "",
        headers,
        body,
      }),
    );
    const tried = new Set<string>();
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const chosen = pickTarget(route.target, directory.instances, load, tried);
      if (chosen === undefined) {
        instanceId = "";
        return finish(503, `no running instance for route ${route.name}; request id ${requestId}\n`, {
          "retry-after": "1",
        });
      }
      instanceId = chosen;
      tried.add(chosen);
      outstanding.set(chosen, load(chosen) + 1);
      let answer: pb.InvokeResponse;
      try {
        answer = await options.api.invoke(
          { instanceId: chosen, operation: route.operation, payload },
          abort.signal,
        );
      } catch (error) {
        const failure = WasmatrixError.from(error);
        if (abort.signal.aborted) return;
        if (unreachable(failure)) {
          // Never delivered: safe to try another replica.
          directory.markUnavailable(chosen);
          logger.warn({ requestId, instanceId: chosen, code: failure.code }, "gateway: instance unreachable");
          continue;
        }
        return answerFailure(failure, requestId, route, finish, logger);
      } finally {
        const left = load(chosen) - 1;
        if (left <= 0) outstanding.delete(chosen);
        else outstanding.set(chosen, left);
      }
      if (answer.outcome?.status === "crashed") {
        const timeout = answer.outcome.reason === "timeout";
        logger.error(
          { requestId, instanceId: chosen, reason: answer.outcome.reason, trap: answer.outcome.trap },
          "gateway: guest crashed",
        );
        return finish(
          timeout ? 504 : 500,
          `${timeout ? "gateway timeout" : "internal error"}; request id ${requestId}\n`,
        );
      }
      if (answer.guestError !== "") {
        logger.error(
          { requestId, instanceId: chosen, guestError: answer.guestError },
          "gateway: guest error",
        );
        return finish(500, `internal error; request id ${requestId}\n`);
      }
      let decoded: ReturnType<typeof decodeHttpResponse>;
      try {
        decoded = decodeHttpResponse(answer.response);
      } catch (error) {
        logger.error({ requestId, instanceId: chosen, err: error }, "gateway: guest answer does not decode");
        return finish(502, `bad answer from the handler; request id ${requestId}\n`);
      }
      if (res.destroyed) return;
      res.statusCode = decoded.status;
      for (const [name, value] of decoded.headers) {
        if (!HOP_BY_HOP.has(name.toLowerCase())) res.appendHeader(name, value);
      }
      res.setHeader("x-wasmatrix-instance", chosen);
      res.end(decoded.body);
      return;
    }
    instanceId = "";
    finish(503, `no reachable instance for route ${route.name}; request id ${requestId}\n`, {
      "retry-after": "1",
    });
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    if (stats.inFlight >= maxInFlight) {
      // Checked before the body is read: an overload costs a header, not a body.
      res.setHeader("retry-after", "1");
      res.setHeader("connection", "close");
      res.statusCode = 503;
      res.end("gateway overloaded\n");
      req.resume();
      return;
    }
    stats.inFlight++;
    stats.peakInFlight = Math.max(stats.peakInFlight, stats.inFlight);
    res.on("close", () => stats.inFlight--);
    handle(req, res).catch((error: unknown) => {
      logger.error({ err: error }, "gateway: request failed");
      if (!res.headersSent) {
        res.statusCode = 500;
        res.end("internal error\n");
      } else res.destroy();
    });
  };

  const server: Server =
    options.tls === undefined ? createHttpServer(onRequest) : createHttpsServer(options.tls, onRequest);
  server.keepAliveTimeout = 65_000;
  const { host, port } = splitHostPort(listen);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(Number(port ?? 8080), host === "" ? undefined : host, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } catch (error) {
    directory.close();
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === "EADDRINUSE"
        ? "the address is in use; pick another (--http on `up`, --listen on `gateway`), or --http off"
        : `${(error as Error).message}; pick another address`;
    throw new WasmatrixError(ErrorCode.INVALID_REQUEST, `cannot serve HTTP on ${listen}: ${why}`, {
      address: listen,
      ...(code === undefined ? {} : { errno: code }),
    });
  }
  const bound = server.address() as AddressInfo;
  const address =
    bound.family === "IPv6" ? `[${bound.address}]:${bound.port}` : `${bound.address}:${bound.port}`;
  logger.info({ address, tls: options.tls !== undefined }, "HTTP gateway listening");
  return {
    address,
    directory,
    stats: () => ({ ...stats }),
    async close() {
      directory.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

function unreachable(error: WasmatrixError): boolean {
  return (
    error.code === ErrorCode.NODE_UNAVAILABLE ||
    error.code === ErrorCode.INSTANCE_NOT_FOUND ||
    (error.code === ErrorCode.FAILED_PRECONDITION && error.details["reason"] !== "caller_gone")
  );
}

function answerFailure(
  failure: WasmatrixError,
  requestId: string,
  route: Route,
  finish: (status: number, body: string, headers?: Record<string, string>) => void,
  logger: Logger,
): void {
  logger.warn(
    { requestId, route: route.name, code: failure.code, err: failure.message },
    "gateway: invoke failed",
  );
  if (failure.code === ErrorCode.RESOURCE_EXHAUSTED) {
    const ms = Number(failure.details["retryAfterMs"] ?? 1000);
    finish(503, `busy; retry later; request id ${requestId}\n`, {
      "retry-after": String(Math.max(1, Math.ceil(ms / 1000))),
    });
  } else if (failure.code === ErrorCode.TIMEOUT) finish(504, `gateway timeout; request id ${requestId}\n`);
  else finish(500, `internal error; request id ${requestId}\n`);
}

/** The body, or why there is none: over `max` (the rest is drained), or the client left. */
function readBody(req: IncomingMessage, max: number): Promise<Uint8Array | "too_large" | "aborted"> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on("data", (chunk: Buffer) => {
      if (over) return;
      size += chunk.byteLength;
      if (size > max) {
        over = true;
        chunks.length = 0;
        resolve("too_large");
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      if (!over) resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
    });
    req.on("aborted", () => resolve("aborted"));
    req.on("error", () => resolve("aborted"));
  });
}

function bufferOf(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

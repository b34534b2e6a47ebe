import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { ErrorCode } from "@wasmatrix/core";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HttpProvider, isPrivateAddress } from "./http.js";
import type { ProviderCall } from "./provider.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function call(payload: unknown, remainingMs = 5_000): ProviderCall {
  return {
    instanceId: "i",
    binding: "default",
    operation: "request",
    payload: encoder.encode(JSON.stringify(payload)),
    scope: "instance/i",
    remainingMs,
  };
}

describe("HTTP provider against a real server on 127.0.0.1", () => {
  let server: Server;
  let base: string;
  const provider = new HttpProvider({
    allowPrivateAddresses: true,
    maxResponseBytes: 1024,
    timeoutMs: 2_000,
  });

  beforeAll(async () => {
    server = createServer((request, response) => {
      if (request.url === "/big") return response.end("x".repeat(4096));
      if (request.url === "/slow") return setTimeout(() => response.end("late"), 1_000);
      let body = "";
      request.on("data", (chunk) => {
        body += chunk;
      });
      request.on("end", () => {
        response.setHeader("x-method", request.method ?? "");
        response.end(JSON.stringify({ body, header: request.headers["x-test"] ?? null }));
      });
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    server.close();
    await provider.close();
  });

  it("sends the method, headers and body and answers with status, headers and body", async () => {
    const answer = JSON.parse(
      decoder.decode(
        await provider.handle(
          call({ method: "POST", url: `${base}/echo`, headers: { "x-test": "yes" }, body: "hi" }),
        ),
      ),
    );
    expect(answer.status).toBe(200);
    expect(answer.headers["x-method"]).toBe("POST");
    expect(JSON.parse(answer.body)).toEqual({ body: "hi", header: "yes" });
  });

  it("refuses a response larger than the cap with RESOURCE_EXHAUSTED", async () => {
    await expect(provider.handle(call({ url: `${base}/big` }))).rejects.toMatchObject({
      code: ErrorCode.RESOURCE_EXHAUSTED,
    });
  });

  it("gives up after the guest's remaining time with TIMEOUT", async () => {
    const started = Date.now();
    await expect(provider.handle(call({ url: `${base}/slow` }, 200))).rejects.toMatchObject({
      code: ErrorCode.TIMEOUT,
    });
    expect(Date.now() - started).toBeLessThan(900);
  });

  it("reports a refused connection as PROVIDER_UNAVAILABLE", async () => {
    const closed = createServer();
    closed.listen(0, "127.0.0.1");
    await once(closed, "listening");
    const port = (closed.address() as AddressInfo).port;
    closed.close();
    await expect(provider.handle(call({ url: `http://127.0.0.1:${port}/` }))).rejects.toMatchObject({
      code: ErrorCode.PROVIDER_UNAVAILABLE,
    });
  });

  it("refuses loopback and private addresses unless allowed", async () => {
    const strict = new HttpProvider();
    try {
      await expect(strict.handle(call({ url: `${base}/echo` }))).rejects.toMatchObject({
        code: ErrorCode.PERMISSION_DENIED,
      });
      await expect(strict.handle(call({ url: "http://localhost:1/" }))).rejects.toMatchObject({
        code: ErrorCode.PERMISSION_DENIED,
      });
    } finally {
      await strict.close();
    }
  });

  it("asks for the request's host as its permission and refuses other operations and schemes", () => {
    expect(
      provider.required("request", encoder.encode(JSON.stringify({ url: "https://API.example.com:8443/x" }))),
    ).toEqual({
      kind: "http",
      host: "api.example.com",
    });
    expect(() => provider.required("get", encoder.encode("{}"))).toThrow(/no operation/);
    expect(() =>
      provider.required("request", encoder.encode(JSON.stringify({ url: "file:///etc/passwd" }))),
    ).toThrow(/only http and https/);
  });
});

describe("private address detection", () => {
  it("classifies loopback, private, link-local and mapped addresses as private", () => {
    for (const a of [
      "127.0.0.1",
      "10.1.2.3",
      "172.16.0.1",
      "172.31.255.255",
      "192.168.1.1",
      "169.254.1.1",
      "100.64.0.1",
      "0.0.0.0",
      "::1",
      "::",
      "fd00::1",
      "fe80::1",
      "::ffff:127.0.0.1",
    ]) {
      expect(isPrivateAddress(a), a).toBe(true);
    }
    for (const a of ["8.8.8.8", "172.32.0.1", "100.128.0.1", "2606:4700::1111", "::ffff:1.1.1.1"]) {
      expect(isPrivateAddress(a), a).toBe(false);
    }
  });

  it("never calls an address in 10.0.0.0/8 public", () => {
    fc.assert(
      fc.property(fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255)), ([b, c, d]) =>
        isPrivateAddress(`10.${b}.${c}.${d}`),
      ),
      { numRuns: 100 },
    );
  });
});

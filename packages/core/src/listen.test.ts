import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { assertListenAllowed, isLoopbackHost, splitHostPort } from "./listen.js";
import { expectCode } from "./test-support/expect-code.js";

describe("listen policy", () => {
  it("allows any loopback address without TLS", () => {
    for (const address of [
      "127.0.0.1:7400",
      "localhost:1",
      "[::1]:8080",
      "127.1.2.3:9",
      "[::ffff:127.0.0.1]:5",
    ]) {
      expect(() => assertListenAllowed("the API", address, { tls: false, insecure: false })).not.toThrow();
    }
  });

  it("refuses every other address without TLS or --insecure, naming the fix", () => {
    for (const address of ["0.0.0.0:7400", "[::]:7400", "10.0.0.5:1", "example.com:80", "128.0.0.1:1"]) {
      const error = expectCode(
        () => assertListenAllowed("the API", address, { tls: false, insecure: false }),
        "INSECURE_LISTEN",
      );
      expect(error.message).toMatch(/--insecure/);
      expect(error.details).toMatchObject({ address });
    }
  });

  it("allows any address with TLS or with --insecure", () => {
    fc.assert(
      fc.property(fc.ipV4(), fc.integer({ min: 1, max: 65535 }), fc.boolean(), (ip, port, tls) => {
        assertListenAllowed("x", `${ip}:${port}`, { tls, insecure: !tls });
      }),
    );
  });

  it("reads host and port from v4, v6 and named addresses", () => {
    expect(splitHostPort("[::1]:80")).toEqual({ host: "::1", port: "80" });
    expect(splitHostPort("a.b:1")).toEqual({ host: "a.b", port: "1" });
    expect(splitHostPort("::1")).toEqual({ host: "::1", port: undefined });
    expect(isLoopbackHost("LOCALHOST")).toBe(true);
  });
});

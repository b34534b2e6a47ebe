import { ErrorCode, WasmatrixError } from "@wasmatrix/core";
import { describe, expect, it } from "vitest";
import { leaseTtlSeconds, parseEndpoints } from "./endpoints.js";

describe("etcd endpoints and lease TTLs", () => {
  it("accepts host:port lists with or without a scheme", () => {
    expect(parseEndpoints("127.0.0.1:2379, http://10.0.0.2:2379,https://etcd.example:2379")).toEqual([
      "http://127.0.0.1:2379",
      "http://10.0.0.2:2379",
      "https://etcd.example:2379",
    ]);
    expect(parseEndpoints(["[::1]:2379"])).toEqual(["http://[::1]:2379"]);
  });

  it("refuses empty lists and entries that are not host:port", () => {
    for (const bad of ["", " , ", "127.0.0.1", "http://x:2379/path", "::::"]) {
      let error: unknown;
      try {
        parseEndpoints(bad);
      } catch (e) {
        error = e;
      }
      expect(WasmatrixError.is(error) && error.code).toBe(ErrorCode.INVALID_REQUEST);
    }
  });

  it("lasts three heartbeat intervals, in whole seconds, at least two", () => {
    expect(leaseTtlSeconds(1_000)).toBe(3);
    expect(leaseTtlSeconds(300)).toBe(2);
    expect(leaseTtlSeconds(50)).toBe(2);
    expect(leaseTtlSeconds(1_500)).toBe(5);
  });
});

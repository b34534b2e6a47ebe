import { InvalidArgumentError } from "commander";
import { describe, expect, it } from "vitest";
import {
  pairsToRecord,
  parseCapability,
  parseCapSpec,
  parseEnvPair,
  parseInstanceId,
  parseLabelList,
  parseMs,
  parseNonNegative,
  parsePair,
  parseRestart,
  repeatable,
} from "./options.js";

describe("option parsers", () => {
  it("read a capability spec the way the core reads it", () => {
    expect(parseCapSpec("keyvalue#cache=kv:read,kv:write")).toMatchObject({
      capability: "keyvalue",
      provider: "local",
      binding: "cache",
    });
  });

  it("report a bad capability spec as commander's usage error, keeping the core's message", () => {
    expect(() => parseCapSpec("kv:read")).toThrow(InvalidArgumentError);
    expect(() => parseCapSpec("kv:read")).toThrow(/permissions follow '='/);
  });

  it("refuse an unknown capability name for revoke", () => {
    expect(parseCapability("http")).toBe("http");
    expect(() => parseCapability("files")).toThrow(InvalidArgumentError);
  });

  it("read restart policies in the text form, settings included", () => {
    expect(parseRestart("always")).toEqual({ kind: "always" });
    expect(parseRestart("backoff:initial=200ms,max-restarts=3")).toMatchObject({
      kind: "backoff",
      initialMs: 200,
      maxRestarts: 3,
    });
    expect(() => parseRestart("sometimes")).toThrow(InvalidArgumentError);
  });

  it("validate an instance id before anything is sent", () => {
    expect(parseInstanceId("echo")).toBe("echo");
    expect(() => parseInstanceId("no spaces")).toThrow(InvalidArgumentError);
  });

  it("read durations with units", () => {
    expect(parseMs("2s")).toBe(2_000);
    expect(() => parseMs("soon")).toThrow(InvalidArgumentError);
  });

  it("read sequence numbers from zero up and nothing else", () => {
    expect(parseNonNegative("0")).toBe(0);
    expect(parseNonNegative("120")).toBe(120);
    expect(() => parseNonNegative("-1")).toThrow(InvalidArgumentError);
    expect(() => parseNonNegative("1.5")).toThrow(InvalidArgumentError);
    expect(() => parseNonNegative("")).toThrow(InvalidArgumentError);
  });
});

describe("key=value options", () => {
  it("split at the first '=' so values may hold more of them", () => {
    expect(parsePair("query=a=b")).toEqual(["query", "a=b"]);
    expect(parseEnvPair("OPTS=--x=1")).toEqual(["OPTS", "--x=1"]);
  });

  it("allow an empty value but not an empty key", () => {
    expect(parsePair("flag=")).toEqual(["flag", ""]);
    expect(() => parsePair("=value")).toThrow(InvalidArgumentError);
    expect(() => parsePair("novalue")).toThrow(InvalidArgumentError);
  });

  it("read a comma-separated label list, the later key winning", () => {
    expect(parseLabelList("zone=eu-1, arch=x64,zone=eu-2")).toEqual({ zone: "eu-2", arch: "x64" });
  });

  it("collect a repeated option in order and fold it into a record", () => {
    const collect = repeatable((t) => parsePair(t));
    const pairs = collect("b=2", collect("a=1", undefined));
    expect(pairs).toEqual([
      ["a", "1"],
      ["b", "2"],
    ]);
    expect(pairsToRecord(pairs)).toEqual({ a: "1", b: "2" });
    expect(pairsToRecord(undefined)).toEqual({});
  });
});

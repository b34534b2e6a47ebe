import { ErrorCode, WasmatrixError } from "@wasmatrix/core";
import { describe, expect, it } from "vitest";
import { nodeKey, providerKey } from "./keys.js";
import {
  decodeNodeRecord,
  decodeProviderRecord,
  encodeNodeRecord,
  encodeProviderRecord,
  MAX_RECORD_BYTES,
} from "./records.js";

const node = {
  nodeId: "n1",
  address: "127.0.0.1:7401",
  labels: { zone: "a" },
  capabilities: ["logging"],
  version: "1.0",
};
const provider = { providerId: "kv1", capability: "keyvalue", address: "127.0.0.1:7500", version: "1.0.0" };

function codeOf(fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (error) {
    return WasmatrixError.is(error) ? error.code : "not a WasmatrixError";
  }
}

describe("etcd records", () => {
  it("round-trip a node record through its JSON", () => {
    const { json } = encodeNodeRecord(node);
    expect(decodeNodeRecord(nodeKey("n1"), json)).toEqual(node);
    const withCapacity = { ...node, maxInstances: 12_000 };
    expect(decodeNodeRecord(nodeKey("n1"), encodeNodeRecord(withCapacity).json)).toEqual(withCapacity);
  });

  it("refuse a node record carrying anything but node metadata", () => {
    for (const extra of [
      { instances: [] },
      { facts: [] },
      { status: "alive" },
      { desired: {} },
      { logs: "x" },
    ]) {
      expect(codeOf(() => encodeNodeRecord({ ...node, ...extra }))).toBe(ErrorCode.INVALID_REQUEST);
    }
  });

  it("refuse malformed node fields", () => {
    for (const bad of [
      { ...node, nodeId: "../n" },
      { ...node, address: "" },
      { ...node, address: "a b" },
      { ...node, capabilities: ["teleport"] },
      { ...node, labels: { "": "x" } },
      { ...node, version: "" },
      { ...node, maxInstances: -1 },
      { ...node, maxInstances: 1.5 },
      { ...node, maxInstances: "12000" },
      [node],
      "n1",
    ]) {
      expect(codeOf(() => encodeNodeRecord(bad))).toBe(ErrorCode.INVALID_REQUEST);
    }
  });

  it(`cap a record at ${MAX_RECORD_BYTES} bytes`, () => {
    const labels = Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`k${i}`, "v".repeat(128)]));
    expect(codeOf(() => encodeNodeRecord({ ...node, labels }))).toBe(ErrorCode.INVALID_REQUEST);
    expect(codeOf(() => decodeNodeRecord(nodeKey("n1"), " ".repeat(MAX_RECORD_BYTES + 1)))).toBe(
      ErrorCode.INVALID_REQUEST,
    );
  });

  it("refuse a record that names another node than its key", () => {
    const { json } = encodeNodeRecord(node);
    expect(codeOf(() => decodeNodeRecord(nodeKey("n2"), json))).toBe(ErrorCode.INVALID_REQUEST);
    expect(codeOf(() => decodeNodeRecord(providerKey("n1"), json))).toBe(ErrorCode.INVALID_REQUEST);
    expect(codeOf(() => decodeNodeRecord(nodeKey("n1"), "{not json"))).toBe(ErrorCode.INVALID_REQUEST);
  });

  it("keep provider records to core's provider metadata", () => {
    const { json } = encodeProviderRecord(provider);
    expect(decodeProviderRecord(providerKey("kv1"), json)).toEqual(provider);
    expect(codeOf(() => encodeProviderRecord({ ...provider, data: "x" }))).toBe(ErrorCode.INVALID_REQUEST);
    expect(codeOf(() => decodeProviderRecord(providerKey("kv2"), json))).toBe(ErrorCode.INVALID_REQUEST);
  });
});

import { expectCode } from "@wasmatrix/core/test-support/expect-code";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatReference, isOciReference, parseReference } from "./reference.js";

const component = fc.stringMatching(/^[a-z0-9]+(?:[._-][a-z0-9]+)*$/).filter((s) => s.length <= 40);
const reference = fc.record({
  registry: fc.oneof(
    fc.constant("127.0.0.1:5000"),
    fc.constant("localhost:5000"),
    fc.constant("ghcr.io"),
    fc.constant("registry.example.com:443"),
  ),
  repository: fc.array(component, { minLength: 1, maxLength: 3 }).map((parts) => parts.join("/")),
  tag: fc.option(fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}$/), { nil: undefined }),
  digest: fc.option(
    fc.stringMatching(/^[a-f0-9]{64}$/).map((hex) => `sha256:${hex}`),
    { nil: undefined },
  ),
});

describe("OCI references", () => {
  it("read back every reference they write", () => {
    fc.assert(
      fc.property(reference, (ref) => {
        const expected = { ...ref, tag: ref.tag ?? (ref.digest ? undefined : "latest") };
        if (expected.tag === undefined) delete expected.tag;
        if (expected.digest === undefined) delete expected.digest;
        expect(parseReference(formatReference(ref))).toEqual(expected);
        expect(parseReference(`oci://${formatReference(ref)}`)).toEqual(expected);
      }),
    );
  });

  it("default to the latest tag and keep a pinned digest beside a tag", () => {
    expect(parseReference("127.0.0.1:5000/echo")).toEqual({
      registry: "127.0.0.1:5000",
      repository: "echo",
      tag: "latest",
    });
    const digest = `sha256:${"a".repeat(64)}`;
    expect(parseReference(`oci://r.io/a/b:1.0@${digest}`)).toMatchObject({ tag: "1.0", digest });
    expect(isOciReference("oci://r.io/a")).toBe(true);
    expect(isOciReference("./echo.wasm")).toBe(false);
  });

  it("refuse references without a registry, with bad tags, digests or repository names", () => {
    for (const bad of [
      "echo:1",
      "/echo",
      "r.io/Echo",
      "r.io/a:b:c",
      "r.io/a@sha256:xyz",
      "r.io/a:",
      "r.io/a//b",
      "r io/a",
    ]) {
      const error = expectCode(() => parseReference(bad), "INVALID_REQUEST");
      expect(error.message).toMatch(/host\[:port\]\/repository/);
    }
  });
});

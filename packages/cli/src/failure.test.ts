import { ErrorCode, WasmatrixError } from "@wasmatrix/core";
import { describe, expect, it } from "vitest";
import { CLUSTER_EXIT } from "./exit-codes.js";
import { failureFrom, formatFailure, UNREACHABLE_HINT, UsageError } from "./failure.js";

describe("failureFrom", () => {
  it("exits 69 with the `wasmatrix up` hint when the client could not reach a server", () => {
    const error = new WasmatrixError(ErrorCode.NODE_UNAVAILABLE, "server unavailable: ECONNREFUSED", {
      grpcStatus: 14,
    });
    expect(failureFrom(error)).toEqual({
      exitCode: CLUSTER_EXIT.UNAVAILABLE,
      message: "server unavailable: ECONNREFUSED",
      hint: UNREACHABLE_HINT,
    });
  });

  it("exits 1 when the server itself reports one of its nodes unavailable", () => {
    const error = new WasmatrixError(ErrorCode.NODE_UNAVAILABLE, "node 'n1' is lost", { nodeId: "n1" });
    expect(failureFrom(error).exitCode).toBe(CLUSTER_EXIT.FAILED);
  });

  it("says the node is unreachable, not that `wasmatrix up` is down, when the server relays an unreachable node", () => {
    const error = new WasmatrixError(
      ErrorCode.NODE_UNAVAILABLE,
      "the node agent at 127.0.0.1:7401 is unreachable (server unavailable: Connection dropped)",
      { address: "127.0.0.1:7401", transportStatus: 14 },
    );
    const failure = failureFrom(error);
    expect(failure.exitCode).toBe(CLUSTER_EXIT.FAILED);
    expect(failure.hint).not.toBe(UNREACHABLE_HINT);
    expect(failure.hint).toContain("node");
    expect(failure.hint).toContain("wasmatrix nodes");
  });

  it("exits 1 for a server's refusal and names the code, so scripts and people can grep it", () => {
    const failure = failureFrom(
      new WasmatrixError(ErrorCode.INSTANCE_NOT_FOUND, "no instance 'x'", { instanceId: "x" }),
    );
    expect(failure.exitCode).toBe(CLUSTER_EXIT.FAILED);
    expect(failure.message).toBe("no instance 'x' (INSTANCE_NOT_FOUND)");
    expect(failure.hint).toContain("wasmatrix ps --all");
  });

  it("fills the instance id into hints that name one", () => {
    const failure = failureFrom(new WasmatrixError(ErrorCode.FAILED_PRECONDITION, "instance is crashed"), {
      instanceId: "echo",
    });
    expect(failure.hint).toContain("wasmatrix start --id echo");
  });

  it("lists why each node was passed over when placement refused, with a hint that finds the nodes", () => {
    const failure = failureFrom(
      new WasmatrixError(ErrorCode.NODE_UNAVAILABLE, "no eligible node for this instance", {
        rejected: { na: "label zone=c missing", nb: "node is lost" },
      }),
    );
    expect(failure.reasons).toEqual(["na: label zone=c missing", "nb: node is lost"]);
    expect(failure.hint).toContain("wasmatrix nodes");
    expect(formatFailure(failure)).toBe(
      "error: no eligible node for this instance (NODE_UNAVAILABLE)\n" +
        "  na: label zone=c missing\n" +
        "  nb: node is lost\n" +
        `hint: ${failure.hint}\n`,
    );
  });

  it("exits 2 for a usage mistake found after parsing", () => {
    expect(failureFrom(new UsageError("no such file: x.wasm")).exitCode).toBe(CLUSTER_EXIT.USAGE);
  });

  it("treats anything unexpected as an internal error of the server or environment", () => {
    const failure = failureFrom(new Error("boom"));
    expect(failure.exitCode).toBe(CLUSTER_EXIT.FAILED);
    expect(failure.message).toBe("boom (INTERNAL)");
  });
});

describe("formatFailure", () => {
  it("prints `error:` and, when there is one, a `hint:` line", () => {
    expect(formatFailure({ exitCode: 1, message: "m", hint: "h" })).toBe("error: m\nhint: h\n");
    expect(formatFailure({ exitCode: 1, message: "m" })).toBe("error: m\n");
  });
});

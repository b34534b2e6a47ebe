import { invokeRequest, type WasmatrixClient } from "@wasmatrix/client";
import { ErrorCode } from "@wasmatrix/core";
import { connectProvider } from "@wasmatrix/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { capabilityCall } from "../../packages/node-agent/src/test-support/guests.js";
import { startReactor } from "./guest.js";
import { Cluster, type Daemon, failure, waitFor } from "./harness.js";

/**
 * A keyvalue provider as a process of its own: a guest on a node reaches it through an
 * assignment naming it; when it dies the guest gets PROVIDER_UNAVAILABLE quickly and keeps
 * running; when it comes back, calls work again.
 */
describe("a remote keyvalue provider", () => {
  const cluster = new Cluster();
  let client: WasmatrixClient;
  let controlPlane: Daemon;
  let provider: Daemon;
  let providerPort: number;

  const kv = async (operation: string, payload: unknown) => {
    const result = await client.invoke(
      invokeRequest("user", "call", capabilityCall("default", "wasmatrix:keyvalue", operation, payload)),
    );
    expect(result.outcome?.status).toBe("ok");
    return result.guestError === ""
      ? { ok: true, text: result.response.toString() }
      : { ok: false, text: result.guestError };
  };

  beforeAll(async () => {
    controlPlane = await cluster.controlPlane();
    await cluster.nodeAgent({ nodeId: "na", controlPlane: controlPlane.address });
    provider = await cluster.provider({
      capability: "keyvalue",
      providerId: "kv-1",
      controlPlane: controlPlane.address,
    });
    providerPort = Number(provider.address.split(":")[1]);
    client = cluster.client(controlPlane.address);
    await cluster.nodesAlive(client, ["na"]);
    await waitFor("kv-1 listed alive", async () =>
      (await client.listProviders()).providers.some((p) => p.providerId === "kv-1" && p.status === "alive")
        ? true
        : undefined,
    );
    await startReactor(client, {
      instanceId: "user",
      assignments: [
        {
          capability: "keyvalue",
          provider: "kv-1",
          binding: "default",
          permissions: ["kv:read", "kv:write"],
        },
      ],
    });
  });
  afterAll(() => cluster.close());

  it("serves a guest's calls through the assignment that names it", async () => {
    // The node learns of the provider with its next report's answer.
    await waitFor("the node routes to kv-1", async () =>
      (await kv("increment", { key: "n" })).ok ? true : undefined,
    );
    expect(await kv("increment", { key: "n" })).toEqual({ ok: true, text: "2" });
    expect(await kv("get", { key: "n" })).toEqual({ ok: true, text: "2" });
    const denied = await kv("delete", { key: "n" });
    expect(JSON.parse(denied.text)).toMatchObject({ code: ErrorCode.PERMISSION_DENIED });
  });

  it("answers PROVIDER_UNAVAILABLE in bounded time when the provider dies, and works again when it is back", async () => {
    await provider.kill("SIGKILL");
    const started = Date.now();
    const down = await kv("get", { key: "n" });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(JSON.parse(down.text)).toMatchObject({ code: ErrorCode.PROVIDER_UNAVAILABLE });
    const { instance } = await client.queryInstance({ instanceId: "user", factLimit: 0 });
    expect(instance).toMatchObject({ status: "running", restarts: 0 });

    provider = await cluster.provider({
      capability: "keyvalue",
      providerId: "kv-1",
      controlPlane: controlPlane.address,
      port: providerPort,
    });
    // An in-memory provider comes back empty: the first increment after it counts from zero.
    await waitFor("calls work again", async () =>
      (await kv("increment", { key: "m" })).ok ? true : undefined,
    );
    expect(await kv("get", { key: "m" })).toEqual({ ok: true, text: "1" });
  });

  it("refuses calls from a node the control plane does not list, and re-checks permissions", async () => {
    const direct = connectProvider(provider.address);
    try {
      const call = (nodeId: string, permissions: string[]) =>
        direct.call(
          {
            nodeId,
            instanceId: "user",
            binding: "default",
            operation: "set",
            payload: Buffer.from(JSON.stringify({ key: "x", value: "1" })),
            scope: "instance/user",
            tenant: "",
            permissions,
            remainingMs: 1_000,
          },
          2_000,
        );
      expect((await failure(call("intruder", ["kv:write"]))).code).toBe(ErrorCode.PERMISSION_DENIED);
      expect((await failure(call("na", ["kv:read"]))).code).toBe(ErrorCode.PERMISSION_DENIED);
      expect((await call("na", ["kv:write"])).payload.byteLength).toBe(0);
    } finally {
      direct.close();
    }
  });
});

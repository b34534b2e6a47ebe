import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { connect, listRequest, startRequest, type WasmatrixClient, watchRequest } from "@wasmatrix/client";
import { ErrorCode } from "@wasmatrix/core";
import { rejection } from "@wasmatrix/core/test-support/expect-code";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AuthServer, startAuthServer } from "./harness.js";

const ECHO = join(import.meta.dirname, "../../examples/build/echo_reactor.wasm");

/** Tenants over real gRPC on `up --auth`: a tenant's token sees and acts on its tenant's instances only. */
describe("tenants", () => {
  let server: AuthServer;
  let module: Buffer;
  const clients: WasmatrixClient[] = [];
  const as = async (role: "admin" | "deployer" | "reader", tenant?: string) => {
    const client = connect(server.address, { timeoutMs: 20_000, token: await server.token(role, tenant) });
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    server = await startAuthServer();
    module = await readFile(ECHO);
    const admin = await as("admin");
    await admin.startInstance(startRequest({ instanceId: "shop-1", module, tenant: "shop" }));
    await (await as("deployer", "blog")).startInstance(startRequest({ instanceId: "blog-1", module }));
    await admin.startInstance(startRequest({ instanceId: "plain-1", module }));
  }, 120_000);
  afterAll(async () => {
    for (const c of clients) c.close();
    await server?.close();
  });

  it("gives each instance the tenant it was started in: --tenant by an admin, implied by a tenant token, else default", async () => {
    const { instances } = await (await as("reader")).listInstances(listRequest());
    const tenants = Object.fromEntries(instances.map((i) => [i.instanceId, i.tenant]));
    expect(tenants).toEqual({ "shop-1": "shop", "blog-1": "blog", "plain-1": "default" });
  });

  it("lists only the tenant's own instances to its token", async () => {
    const shop = await (await as("reader", "shop")).listInstances(listRequest());
    expect(shop.instances.map((i) => i.instanceId)).toEqual(["shop-1"]);
    const blog = await (await as("deployer", "blog")).listInstances(listRequest());
    expect(blog.instances.map((i) => i.instanceId)).toEqual(["blog-1"]);
  });

  it("answers another tenant's instance exactly like an id that does not exist", async () => {
    const shop = await as("deployer", "shop");
    const foreign = await rejection(shop.queryInstance({ instanceId: "blog-1", factLimit: 0 }));
    const unknown = await rejection(shop.queryInstance({ instanceId: "nope-1", factLimit: 0 }));
    expect(foreign.code).toBe(ErrorCode.INSTANCE_NOT_FOUND);
    expect(foreign.message.replace("blog-1", "ID")).toBe(unknown.message.replace("nope-1", "ID"));
    expect(Object.keys(foreign.details)).toEqual(Object.keys(unknown.details));
    for (const call of [
      () => shop.stopInstance({ instanceId: "blog-1", deadlineMs: 0 }),
      () => shop.invoke({ instanceId: "blog-1", operation: "upper", payload: Buffer.from("x") }),
      () => shop.revokeCapability({ instanceId: "blog-1", capability: "keyvalue", binding: "" }),
      async () => {
        for await (const _ of shop.streamLogs({
          instanceId: "blog-1",
          follow: false,
          tail: 0,
          run: 0,
          sinceMs: 0,
          grep: "",
        }))
          break;
      },
    ]) {
      expect((await rejection(call())).code).toBe(ErrorCode.INSTANCE_NOT_FOUND);
    }
    // The instance is untouched.
    const { instance } = await (await as("admin")).queryInstance({ instanceId: "blog-1", factLimit: 0 });
    expect(instance?.status).toBe("running");
  });

  it("streams only the tenant's facts, each carrying its tenant", async () => {
    const facts = [];
    for await (const fact of (await as("reader", "shop")).watchEvents(watchRequest({ noFollow: true }))) {
      facts.push(fact);
    }
    expect(facts.length).toBeGreaterThan(0);
    for (const fact of facts) {
      expect(fact.instanceId).toBe("shop-1");
      expect(fact.tenant).toBe("shop");
    }
    const all = [];
    for await (const fact of (await as("admin")).watchEvents(watchRequest({ noFollow: true })))
      all.push(fact);
    expect(all.some((f) => f.instanceId === "blog-1" && f.tenant === "blog")).toBe(true);
  });

  it("lets only an admin pick a tenant, and a tenant token only its own", async () => {
    const deployer = await as("deployer");
    const picked = await rejection(
      deployer.startInstance(startRequest({ instanceId: "x-1", module, tenant: "shop" })),
    );
    expect(picked.code).toBe(ErrorCode.PERMISSION_DENIED);
    const shop = await as("deployer", "shop");
    const other = await rejection(
      shop.startInstance(startRequest({ instanceId: "x-2", module, tenant: "blog" })),
    );
    expect(other.code).toBe(ErrorCode.PERMISSION_DENIED);
    // An id taken by another tenant is refused without saying whose it is.
    const taken = await rejection(shop.startInstance(startRequest({ instanceId: "blog-1", module })));
    expect(taken.code).toBe(ErrorCode.ALREADY_EXISTS);
    expect(taken.message).not.toMatch(/tenant|running/);
  });

  it("keeps a reader from changing anything, and tenant tokens from cluster RPCs", async () => {
    const reader = await as("reader", "shop");
    expect((await rejection(reader.stopInstance({ instanceId: "shop-1", deadlineMs: 0 }))).code).toBe(
      ErrorCode.PERMISSION_DENIED,
    );
    const shopAdmin = await as("admin", "shop");
    expect((await rejection(shopAdmin.listTokens())).code).toBe(ErrorCode.PERMISSION_DENIED);
    expect((await (await as("admin")).listTokens()).tokens.length).toBeGreaterThan(0);
  });
});

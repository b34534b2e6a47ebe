import { type MethodDefinition, status } from "@grpc/grpc-js";
import { API_RULES, authorizeCall, type Caller, ROLES, type Role } from "@wasmatrix/core";
import * as pb from "@wasmatrix/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AuthServer, allMethods, isAccessRefusal, rawCall, startAuthServer } from "./harness.js";

/**
 * The role × tenant × RPC matrix, built from the generated service definitions: an RPC added to
 * a .proto without a rule in core's API_RULES fails here, and every ControlPlane RPC is called
 * on a real `up --auth` with every kind of caller, expecting exactly the table's answer.
 */
describe("the API access matrix", () => {
  let server: AuthServer;

  beforeAll(async () => {
    server = await startAuthServer();
  }, 60_000);
  afterAll(() => server?.close());

  it("has a rule for every RPC of every service, and none for an RPC that does not exist", () => {
    const paths = allMethods().map((m) => m.path);
    for (const path of paths)
      expect(API_RULES[path], `${path} has no rule in core's API_RULES`).toBeDefined();
    expect(Object.keys(API_RULES).sort()).toEqual([...paths].sort());
  });

  const tenants = [undefined, "shop"] as const;
  const callers: { name: string; caller: Caller; role?: Role; tenant?: string }[] = [
    { name: "no token", caller: {} },
    ...ROLES.flatMap((role) =>
      tenants.map((tenant) => ({
        name: `${role}${tenant === undefined ? "" : `@${tenant}`}`,
        caller: { token: { tokenId: "t", role, ...(tenant === undefined ? {} : { tenant }) } },
        role,
        ...(tenant === undefined ? {} : { tenant }),
      })),
    ),
  ];

  /** An encoded body the handler answers quickly (empty: every field zero); WatchEvents ends after what is retained. */
  const requestFor = (method: { path: string }): Buffer =>
    method.path.endsWith("/WatchEvents")
      ? Buffer.from(
          pb.WatchEventsRequest.encode(pb.WatchEventsRequest.fromPartial({ noFollow: true })).finish(),
        )
      : Buffer.alloc(0);
  const controlPlaneMethods = Object.values(pb.ControlPlaneService) as unknown as MethodDefinition<
    unknown,
    unknown
  >[];

  it("answers every ControlPlane RPC for every role and tenant exactly as the table decides", async () => {
    const methods = controlPlaneMethods;
    let checked = 0;
    for (const method of methods) {
      for (const { name, caller, role, tenant } of callers) {
        const token = role === undefined ? undefined : await server.token(role, tenant);
        const answer = await rawCall(server.address, method, requestFor(method), token);
        let expected: "allowed" | number = "allowed";
        try {
          authorizeCall(method.path, caller, { requireCredentials: true });
        } catch (error) {
          expected =
            (error as { code: string }).code === "UNAUTHENTICATED"
              ? status.UNAUTHENTICATED
              : status.PERMISSION_DENIED;
        }
        const what = `${method.path} as ${name}: got ${answer.code} ${answer.wasmatrixCode ?? ""}`;
        if (expected === "allowed") expect(isAccessRefusal(answer), what).toBe(false);
        else {
          expect(answer.code, what).toBe(expected);
          expect(isAccessRefusal(answer), what).toBe(true);
        }
        checked++;
      }
    }
    expect(checked).toBe(methods.length * callers.length);
  }, 180_000);

  it("refuses a bad, a foreign, an expired and a revoked token with UNAUTHENTICATED on every RPC", async () => {
    const expiring = await server.embedded.tokens!.issue({ role: "admin", expiresInMs: 1_000 });
    const revoked = await server.embedded.tokens!.issue({ role: "admin" });
    await server.embedded.tokens!.revoke(revoked.record.tokenId);
    await new Promise((r) => setTimeout(r, 2_100));
    const [header, payload] = server.adminToken.split(".");
    const bad = [`${header}.${payload}.AAAA`, "garbage", expiring.token, revoked.token];
    for (const method of controlPlaneMethods) {
      for (const token of [...bad, undefined]) {
        // A body that does not decode changes nothing: who calls is settled first.
        for (const body of [requestFor(method), Buffer.from([0xff, 0xff, 0xff])]) {
          const answer = await rawCall(server.address, method, body, token);
          expect(answer.code, `${method.path}`).toBe(status.UNAUTHENTICATED);
          expect(answer.wasmatrixCode).toBe("UNAUTHENTICATED");
        }
      }
    }
  }, 120_000);
});

import { createPublicKey, generateKeyPairSync, sign, verify } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, invokeRequest, startRequest } from "@wasmatrix/client";
import { TokenAuthority } from "@wasmatrix/control-plane";
import { createEmbedded, type Embedded } from "@wasmatrix/embedded";
import { echoReactor } from "../guests.js";
import { type Figure, type SuiteResult, targets } from "../report.js";
import { opsPerSecond, sampleAsync, sampleSync, sampleThroughputInTurns } from "../stats.js";
import type { Suite, SuiteOptions } from "../suite.js";

const PAYLOAD = new TextEncoder().encode("0123456789abcdef");
const IN_FLIGHT = 32;
const INVOKES_PER_ROUND = 3_000;

/** What an API token costs: its verification alone, and Invoke over gRPC with `up --auth` beside `up` without. */
async function run({ log }: SuiteOptions): Promise<SuiteResult> {
  const started = performance.now();
  const stateDir = await mkdtemp(join(tmpdir(), "wasmatrix-bench-auth-"));
  const figures: Figure[] = [];
  const embeddeds: Embedded[] = [];
  try {
    log("auth: token verification");
    const authority = await TokenAuthority.open({ stateDir });
    const { token } = await authority.issue({ role: "deployer", tenant: "bench", expiresInMs: 3_600_000 });
    const verifyToken = await sampleAsync(() => authority.verify(token), {
      samples: 200,
      warmup: 20,
      batch: 50,
    });
    // A token's first call verifies its signature; later calls find it among the verified ones.
    const fresh: string[] = [];
    for (let i = 0; i < 220; i++) {
      fresh.push((await authority.issue({ role: "reader", expiresInMs: 3_600_000 })).token);
    }
    let next = 0;
    const firstVerify = await sampleAsync(() => authority.verify(fresh[next++]!), {
      samples: 200,
      warmup: 20,
      batch: 1,
    });
    // The signature check underneath, with node:crypto directly: what the JWT layer adds on top.
    const { privateKey } = generateKeyPairSync("ed25519");
    const publicKey = createPublicKey(privateKey);
    const data = Buffer.from(token.slice(0, token.lastIndexOf(".")));
    const signature = sign(null, data, privateKey);
    const rawVerify = sampleSync(() => verify(null, data, publicKey, signature), {
      samples: 200,
      warmup: 20,
      batch: 50,
    });
    authority.close();
    figures.push(
      {
        name: "API token check, a token seen before (expiry and revocation; signature remembered)",
        value: opsPerSecond(verifyToken.median),
        unit: "ops/s",
        baselines: [{ label: "ed25519 verify alone (node:crypto)", value: opsPerSecond(rawVerify.median) }],
      },
      {
        name: "API token check, a token's first call (jose EdDSA JWT verify, claims, revocation)",
        value: opsPerSecond(firstVerify.median),
        unit: "ops/s",
        baselines: [{ label: "ed25519 verify alone (node:crypto)", value: opsPerSecond(rawVerify.median) }],
      },
    );

    log("auth: invoke over gRPC, --auth beside no auth");
    const module = Buffer.from(await echoReactor());
    const open = await createEmbedded({ node: { runtime: { workers: 1 } } });
    embeddeds.push(open);
    const secured = await createEmbedded({
      node: { runtime: { workers: 1 } },
      auth: { stateDir: join(stateDir, "up") },
    });
    embeddeds.push(secured);
    const openServer = await open.serve("127.0.0.1:0");
    const securedServer = await secured.serve("127.0.0.1:0");
    const deployer = (await secured.tokens!.issue({ role: "deployer" })).token;
    const openClient = connect(openServer.address, { timeoutMs: 30_000 });
    const securedClient = connect(securedServer.address, { timeoutMs: 30_000, token: deployer });
    try {
      await openClient.startInstance(startRequest({ instanceId: "echo", module }));
      await securedClient.startInstance(startRequest({ instanceId: "echo", module }));
      const invoke = (client: typeof openClient) => async () => {
        const answer = await client.invoke(invokeRequest("echo", "echo", PAYLOAD));
        if (answer.outcome?.status !== "ok")
          throw new Error(`echo failed: ${JSON.stringify(answer.outcome)}`);
      };
      const { withoutAuth, withAuth } = await sampleThroughputInTurns(
        { withoutAuth: invoke(openClient), withAuth: invoke(securedClient) },
        { total: INVOKES_PER_ROUND, concurrency: IN_FLIGHT, rounds: 4 },
      );
      const baseline = {
        label: "the same over gRPC without --auth",
        value: opsPerSecond(withoutAuth.median),
      };
      figures.push({
        name: `Invoke over gRPC with --auth and a deployer token (${IN_FLIGHT} in flight)`,
        value: opsPerSecond(withAuth.median),
        unit: "ops/s",
        baselines: [baseline],
        // Issue 15: security on should cost under 20 %.
        target: targets.atLeast(opsPerSecond(withAuth.median), 0.8 * baseline.value, "ops/s"),
      });
    } finally {
      openClient.close();
      securedClient.close();
    }
  } finally {
    for (const e of embeddeds) await e.close();
    await rm(stateDir, { recursive: true, force: true });
  }
  return {
    name: "auth",
    title: "API tokens",
    figures,
    notes: [
      "Token verification: one `TokenAuthority.verify` (jose jwtVerify with EdDSA, claims checks, the in-memory revocation set) at a time.",
      "Invoke: two `up` servers in one process, one with --auth; rounds taken in turns so machine drift reaches both alike. The target is 80 % of the rate without --auth.",
    ],
    elapsedMs: performance.now() - started,
  };
}

export const authSuite: Suite = {
  name: "auth",
  title: "API tokens",
  summary: "What API tokens cost: verification alone, and Invoke over gRPC with `--auth` beside without.",
  run,
};

import { existsSync } from "node:fs";
import { connect as tcpConnect } from "node:net";
import { connect } from "nats";
import { afterAll, describe, expect, it } from "vitest";
import { type NatsServer, natsServerBinary, startNats } from "./nats.js";

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

describe("nats-server test harness", () => {
  const servers: NatsServer[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
  });

  it("refuses to run without the binary and says how to install it", () => {
    expect(() => natsServerBinary({ PATH: "" }, [])).toThrow(/scripts\/install-toolchain\.sh/);
    expect(natsServerBinary()).toMatch(/nats-server$/);
  });

  it("starts JetStream on a loopback port, keeps its data across restart and cleans up on stop", async () => {
    const server = await startNats({ jetstream: true });
    servers.push(server);
    expect(server.url).toBe(`nats://127.0.0.1:${server.port}`);
    let nc = await connect({ servers: server.url });
    let kv = await nc.jetstream().views.kv("harness");
    await kv.put("k", "survives");
    await nc.close();

    const port = server.port;
    await server.restart();
    expect(server.port).toBe(port);
    nc = await connect({ servers: server.url });
    kv = await nc.jetstream().views.kv("harness");
    expect((await kv.get("k"))?.string()).toBe("survives");
    await nc.close();

    await server.stop();
    expect(await accepts(port)).toBe(false);
    expect(existsSync(server.dataDir)).toBe(false);
  });

  it("kills -9 and starts again on the same port with the same store", async () => {
    const server = await startNats({ jetstream: true });
    servers.push(server);
    let nc = await connect({ servers: server.url });
    await (await nc.jetstream().views.kv("crash")).put("k", "kept");
    await nc.close();

    await server.kill();
    expect(await accepts(server.port)).toBe(false);
    await server.start();
    nc = await connect({ servers: server.url });
    expect((await (await nc.jetstream().views.kv("crash")).get("k"))?.string()).toBe("kept");
    await nc.close();
  });

  it("gives each server its own port and store", async () => {
    const [a, b] = await Promise.all([startNats(), startNats()]);
    servers.push(a!, b!);
    expect(a!.port).not.toBe(b!.port);
    expect(a!.dataDir).not.toBe(b!.dataDir);
  });
});

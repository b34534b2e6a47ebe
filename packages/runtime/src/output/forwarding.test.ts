import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CompiledModule, Runtime } from "../runtime.js";
import { REACTOR_WAT } from "../test-support/fixtures.js";
import { wat } from "../test-support/wat.js";

const MiB = 1024 * 1024;

describe("output forwarded from a worker", () => {
  const runtime = new Runtime({ workers: 1 });
  let reactor: CompiledModule;
  beforeAll(async () => {
    reactor = await runtime.compile(await wat(REACTOR_WAT));
  });
  afterAll(() => runtime.close());

  it("reaches the main thread at no more than the instance's allowance a second, every other byte counted as dropped", async () => {
    const instance = await runtime.instantiate(reactor, { instanceId: "flood" });
    let forwarded = 0;
    let dropped = 0;
    instance.onOutput((_fd, data, lost) => {
      forwarded += data.byteLength;
      dropped += lost;
    });
    // The fixture's memory holds a 256 KiB payload (8 pages, the payload at 64 KiB).
    const payload = new Uint8Array(256 * 1024).fill(0x78);
    const written = 200 * payload.byteLength;
    const started = performance.now();
    for (let i = 0; i < 200; i++) {
      expect((await instance.invoke("print", payload)).outcome.status).toBe("ok");
    }
    const seconds = (performance.now() - started) / 1000;
    // What was held back over the allowance comes, counted, when its window turns.
    for (let waited = 0; forwarded + dropped < written && waited < 3_000; waited += 50) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(forwarded + dropped).toBe(written);
    // 1 MiB a second (the default cap), one more window for the held-back flush. Before, all
    // 50 MiB crossed.
    expect(forwarded).toBeLessThanOrEqual((Math.ceil(seconds) + 2) * MiB);
    expect(instance.stdout.droppedBytes + instance.stdout.size).toBe(written);
    await instance.dispose();
  });

  it("streams a little output at once, without waiting for a window", async () => {
    const instance = await runtime.instantiate(reactor, { instanceId: "quiet" });
    const chunks: string[] = [];
    instance.onOutput((_fd, data) => chunks.push(new TextDecoder().decode(data)));
    for (let i = 0; i < 5; i++) {
      await instance.invoke("print", new TextEncoder().encode(`line ${i}\n`));
      expect(chunks.at(-1)).toBe(`line ${i}\n`);
    }
    await instance.dispose();
  });
});

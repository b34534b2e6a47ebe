import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveConnection } from "./connection.js";
import { writeContexts } from "./contexts.js";

describe("the connection a client command resolves", () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "wasmatrix-contexts-"));
    env = { WASMATRIX_CONFIG_DIR: dir };
    await writeContexts(
      { current: "prod", contexts: { prod: { server: "cp.internal:7400", token: "context-token" } } },
      env,
    );
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("sends the current context's token when no --token or WASMATRIX_TOKEN names one", async () => {
    expect(await resolveConnection({}, env)).toMatchObject({
      server: "cp.internal:7400",
      token: "context-token",
      context: "prod",
    });
  });

  it("lets --token (or WASMATRIX_TOKEN, which commander reads into it) win over the context's", async () => {
    expect((await resolveConnection({ token: "flag-token" }, env)).token).toBe("flag-token");
  });

  it("sends no token when neither the flags nor a context hold one", async () => {
    const none = await resolveConnection({}, { WASMATRIX_CONFIG_DIR: join(dir, "nothing-here") });
    expect(none).not.toHaveProperty("token");
  });
});

import { type ChildProcess, execFile, spawn } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../support/ports.js";

/**
 * wasmatrix as someone without the checkout gets it: every package packed with `npm pack` (which
 * builds them: `tsc -b` for the libraries, the esbuild bundle for the CLI), the CLI installed
 * with `npm install -g` into a temporary prefix and run from a directory outside the checkout,
 * and the library example run in a fresh project that installs the library tarballs. Third-party
 * packages come from the npm cache that set-up filled (`--prefer-offline`).
 */

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const HELLO = join(ROOT, "examples/build/hello.wasm");
const HAVE_HELLO = existsSync(HELLO);
if (!HAVE_HELLO) {
  console.warn(`skipping the packaging test: ${HELLO} is missing; build it with: npm run build:examples`);
}

/** Packing builds every package; on a busy 2-core machine a cold `tsc -b` alone takes ~40 s, more beside other tests. */
const PACK_TIMEOUT_MS = 300_000;
/** An install resolves a few dozen third-party packages from the npm cache. */
const INSTALL_TIMEOUT_MS = 120_000;
const COMMAND_TIMEOUT_MS = 30_000;
const UP_READY_TIMEOUT_MS = 30_000;

const NPM_QUIET = ["--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"];

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function run(
  command: string,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; timeout?: number },
): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      {
        cwd: options.cwd,
        env: options.env ?? process.env,
        timeout: options.timeout ?? COMMAND_TIMEOUT_MS,
        maxBuffer: 16 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

function ok(result: Result): Result {
  if (result.code !== 0) throw new Error(`exit ${result.code}\n${result.stdout}\n${result.stderr}`);
  return result;
}

describe.skipIf(!HAVE_HELLO)("packaging: the packed packages work outside the checkout", () => {
  let work: string;
  let packs: string;
  let prefix: string;
  /** Outside the checkout, where a user would be. */
  let elsewhere: string;
  let bin: string;
  let up: ChildProcess | undefined;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), "wasmatrix-packaging-"));
    packs = join(work, "packs");
    prefix = join(work, "prefix");
    elsewhere = join(work, "elsewhere");
    mkdirSync(packs);
    mkdirSync(elsewhere);
    bin = join(prefix, "bin", "wasmatrix");
    ok(
      await run("npm", ["pack", "--workspaces", "--pack-destination", packs, "--loglevel=error"], {
        cwd: ROOT,
        timeout: PACK_TIMEOUT_MS,
      }),
    );
  }, PACK_TIMEOUT_MS);

  afterAll(async () => {
    if (up !== undefined && up.exitCode === null) {
      const exited = new Promise((resolve) => up?.once("exit", resolve));
      up.kill("SIGTERM");
      await exited;
    }
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  it("packs every workspace package into a tarball of built JavaScript", () => {
    const tarballs = readdirSync(packs).sort();
    expect(tarballs).toEqual(
      [
        "cli",
        "client",
        "control-plane",
        "core",
        "daemons",
        "embedded",
        "etcd",
        "gateway",
        "node-agent",
        "oci",
        "proto",
        "providers",
        "runtime",
      ].map((name) => `wasmatrix-${name}-0.1.0.tgz`),
    );
  });

  it(
    "installs the CLI tarball globally into a working `wasmatrix` command that needs nothing from the checkout",
    async () => {
      ok(
        await run(
          "npm",
          ["install", "-g", "--prefix", prefix, ...NPM_QUIET, join(packs, "wasmatrix-cli-0.1.0.tgz")],
          {
            cwd: elsewhere,
            timeout: INSTALL_TIMEOUT_MS,
          },
        ),
      );
      // The command resolves into the prefix, not back into the checkout (as `npm link` would).
      expect(realpathSync(bin).startsWith(realpathSync(prefix))).toBe(true);

      const version = ok(await run(bin, ["--version"], { cwd: elsewhere }));
      expect(version.stdout.trim()).toBe("0.1.0");

      copyFileSync(HELLO, join(elsewhere, "hello.wasm"));
      const hello = ok(await run(bin, ["run", "hello.wasm", "--", "Alice"], { cwd: elsewhere }));
      expect(hello.stdout).toBe("hello Alice\n");
    },
    INSTALL_TIMEOUT_MS + 2 * COMMAND_TIMEOUT_MS,
  );

  it(
    "serves a cluster with the installed `wasmatrix up --example` that the installed `wasmatrix ps` lists and `invoke` reaches",
    async () => {
      expect(existsSync(bin)).toBe(true);
      const server = `127.0.0.1:${await freePort()}`;
      // --example: the echo reactor ships inside the CLI tarball, beside the bundle.
      const started = spawn(
        bin,
        ["up", "--example", "--listen", server, "--http", "off", "--log-level", "warn"],
        {
          cwd: elsewhere,
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
      up = started;
      let output = "";
      started.stderr?.on("data", (chunk: Buffer) => {
        output += chunk.toString();
      });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no banner from wasmatrix up:\n${output}`)),
          UP_READY_TIMEOUT_MS,
        );
        started.once("exit", (code) => {
          clearTimeout(timer);
          reject(new Error(`wasmatrix up exited with ${code}:\n${output}`));
        });
        started.stdout?.on("data", (chunk: Buffer) => {
          output += chunk.toString();
          if (output.includes(server)) {
            clearTimeout(timer);
            resolve();
          }
        });
      });

      ok(await run(bin, ["start", "hello.wasm", "--id", "hello", "--server", server], { cwd: elsewhere }));
      const ps = ok(await run(bin, ["ps", "--all", "--server", server, "--json"], { cwd: elsewhere }));
      const listed = JSON.parse(ps.stdout) as { instanceId: string }[];
      expect(listed.map((instance) => instance.instanceId).sort()).toEqual(["echo", "hello"]);
      const upper = ok(
        await run(bin, ["invoke", "echo", "upper", "--data", "hi", "--server", server], { cwd: elsewhere }),
      );
      expect(upper.stdout).toBe("HI");
    },
    UP_READY_TIMEOUT_MS + 4 * COMMAND_TIMEOUT_MS,
  );

  it(
    "lets `npx wasmatrix` outside the checkout run the installed command without asking the registry",
    async () => {
      expect(existsSync(bin)).toBe(true);
      // --offline: a look-up of a registry package named `wasmatrix` would fail instead of
      // running something unrelated.
      const npx = ok(
        await run("npx", ["--offline", "wasmatrix", "--version"], {
          cwd: elsewhere,
          env: { ...process.env, npm_config_prefix: prefix },
        }),
      );
      expect(npx.stdout.trim()).toBe("0.1.0");
    },
    COMMAND_TIMEOUT_MS,
  );

  it(
    "links, at set-up, a `wasmatrix` command that runs this checkout's sources (scripts/link-cli.sh)",
    async () => {
      const linkPrefix = join(work, "link-prefix");
      const env = {
        ...process.env,
        npm_config_prefix: linkPrefix,
        PATH: `${join(linkPrefix, "bin")}:${process.env.PATH}`,
      };
      const linked = ok(await run("bash", [join(ROOT, "scripts/link-cli.sh")], { cwd: elsewhere, env }));
      expect(linked.stdout).toContain("runs this checkout");
      const command = join(linkPrefix, "bin", "wasmatrix");
      expect(realpathSync(command)).toBe(realpathSync(join(ROOT, "packages/cli/bin/wasmatrix.js")));
      const version = ok(await run(command, ["--version"], { cwd: elsewhere }));
      expect(version.stdout.trim()).toBe("0.1.0");
    },
    2 * COMMAND_TIMEOUT_MS,
  );

  it(
    "runs the README's library example, examples/library/embedded.mjs, in a project that installs the library tarballs",
    async () => {
      const project = join(work, "project");
      mkdirSync(project);
      writeFileSync(
        join(project, "package.json"),
        '{ "name": "uses-wasmatrix", "private": true, "type": "module" }\n',
      );
      const libraries = readdirSync(packs)
        .filter((name) => name !== "wasmatrix-cli-0.1.0.tgz")
        .map((name) => join(packs, name));
      ok(
        await run("npm", ["install", ...NPM_QUIET, ...libraries], {
          cwd: project,
          timeout: INSTALL_TIMEOUT_MS,
        }),
      );
      copyFileSync(join(ROOT, "examples/library/embedded.mjs"), join(project, "embedded.mjs"));

      // What the README shows is the example itself, from its first import on.
      const readme = readFileSync(join(ROOT, "README.md"), "utf8");
      const shown = /```js\n(import \{ invokeRequest[^`]*)```/.exec(readme)?.[1];
      const file = readFileSync(join(ROOT, "examples/library/embedded.mjs"), "utf8");
      expect(shown).toBe(file.slice(file.indexOf("import { invokeRequest")));

      const example = ok(await run(process.execPath, ["embedded.mjs"], { cwd: project }));
      expect(example.stdout).toBe("hello from wasm\n");
      // The installed packages carry their type declarations for TypeScript users.
      expect(existsSync(join(project, "node_modules/@wasmatrix/embedded/dist/index.d.ts"))).toBe(true);
      expect(existsSync(join(project, "node_modules/@wasmatrix/embedded/src"))).toBe(false);
      expect(lstatSync(join(project, "node_modules/@wasmatrix/core")).isSymbolicLink()).toBe(false);
    },
    INSTALL_TIMEOUT_MS + COMMAND_TIMEOUT_MS,
  );
});

/**
 * WASI conformance cases in the layout of WebAssembly/wasi-testsuite's doc/specification.md: each
 * case is a C program (`cases/NAME.c`, compiled here with clang + wasi-libc) and a JSON
 * specification (`cases/NAME.json`: args, env, dirs to preopen, exit_code, stdout, stderr, each
 * optional with the spec's defaults). The cases are our own, written from that specification.
 *
 * `runConformance` runs every case under wasmatrix's Runtime and under Node's `node:wasi` in the
 * same process and run, each on fresh copies of the case's directories, and reports both.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  closeSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { WASI } from "node:wasi";
import { Runtime } from "@wasmatrix/runtime";

const CASES_DIR = fileURLToPath(new URL("./cases/", import.meta.url));
const CACHE_DIR = fileURLToPath(new URL("../../node_modules/.cache/wasi-conformance/", import.meta.url));

export const CLANG = process.env["WASI_CLANG"] ?? "/usr/bin/clang";
export const SYSROOT =
  process.env["WASI_SYSROOT"] ??
  ["/usr/share/wasi-sysroot", "/opt/wasi-sdk/share/wasi-sysroot"].find((dir) => existsSync(dir)) ??
  (existsSync("/usr/lib/wasm32-wasi") ? "/usr" : undefined);
export const HAVE_TOOLCHAIN = existsSync(CLANG) && SYSROOT !== undefined;

export interface CaseSpec {
  args: string[];
  env: Record<string, string>;
  dirs: string[];
  exit_code: number;
  stdout?: string;
  stderr?: string;
}

export interface Case {
  name: string;
  wasm: Uint8Array;
  spec: CaseSpec;
}

export interface Observed {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** Wall time of the whole case: compile, instantiate, run. */
  ms: number;
  /** Wall time of the guest's `_start` alone. */
  runMs: number;
}

export interface Verdict {
  pass: boolean;
  /** Why not, in a line. */
  reason?: string;
  observed: Observed;
}

export interface CaseResult {
  name: string;
  wasmatrix: Verdict;
  nodeWasi: Verdict;
}

/** Compiles each case once per source version, into node_modules/.cache. */
export function buildCases(): Case[] {
  if (!HAVE_TOOLCHAIN) throw new Error("no clang + wasi-libc; run scripts/install-toolchain.sh");
  mkdirSync(CACHE_DIR, { recursive: true });
  const header = readFileSync(join(CASES_DIR, "check.h"));
  return readdirSync(CASES_DIR)
    .filter((file) => file.endsWith(".c"))
    .sort()
    .map((file) => {
      const name = file.slice(0, -2);
      const source = readFileSync(join(CASES_DIR, file));
      const key = createHash("sha256").update(source).update(header).digest("hex").slice(0, 16);
      const out = join(CACHE_DIR, `${name}-${key}.wasm`);
      if (!existsSync(out)) {
        execFileSync(
          CLANG,
          ["--target=wasm32-wasi", `--sysroot=${SYSROOT}`, "-O1", "-o", `${out}.tmp`, join(CASES_DIR, file)],
          { stdio: "pipe" },
        );
        renameSync(`${out}.tmp`, out);
      }
      const specPath = join(CASES_DIR, `${name}.json`);
      const raw = existsSync(specPath)
        ? (JSON.parse(readFileSync(specPath, "utf8")) as Partial<CaseSpec>)
        : {};
      const spec: CaseSpec = {
        args: raw.args ?? [],
        env: raw.env ?? {},
        dirs: raw.dirs ?? [],
        exit_code: raw.exit_code ?? 0,
        ...(raw.stdout === undefined ? {} : { stdout: raw.stdout }),
        ...(raw.stderr === undefined ? {} : { stderr: raw.stderr }),
      };
      return { name, wasm: new Uint8Array(readFileSync(out)), spec };
    });
}

/** Fresh host copies of the case's directories (a directory beside the cases, or else empty). */
function prepareDirs(spec: CaseSpec): { root: string; dirs: Map<string, string> } {
  const root = mkdtempSync(join(tmpdir(), "wasi-conformance-"));
  const dirs = new Map<string, string>();
  for (const dir of spec.dirs) {
    const host = join(root, dir);
    const seed = join(CASES_DIR, dir);
    if (existsSync(seed)) cpSync(seed, host, { recursive: true });
    else mkdirSync(host, { recursive: true });
    dirs.set(dir, host);
  }
  return { root, dirs };
}

function judge(spec: CaseSpec, observed: Observed): Verdict {
  if (observed.exitCode !== spec.exit_code) {
    const said = observed.stdout.trim().split("\n").pop() ?? "";
    return { pass: false, reason: `exit ${observed.exitCode}, wanted ${spec.exit_code}: ${said}`, observed };
  }
  if (spec.stdout !== undefined && observed.stdout !== spec.stdout) {
    return { pass: false, reason: `stdout ${JSON.stringify(observed.stdout)}`, observed };
  }
  if (spec.stderr !== undefined && observed.stderr !== spec.stderr) {
    return { pass: false, reason: `stderr ${JSON.stringify(observed.stderr)}`, observed };
  }
  return { pass: true, observed };
}

async function underWasmatrix(runtime: Runtime, testCase: Case): Promise<Observed> {
  const { root, dirs } = prepareDirs(testCase.spec);
  const started = performance.now();
  try {
    const compiled = await runtime.compile(testCase.wasm);
    const instance = await runtime.instantiate(compiled, {
      instanceId: `conformance-${testCase.name}`,
      kind: "command",
      args: [testCase.name, ...testCase.spec.args],
      env: testCase.spec.env,
      preopens: [...dirs].map(([guestPath, hostPath]) => ({ hostPath, guestPath })),
      limits: { runTimeoutMs: 30_000 },
    });
    try {
      const runStarted = performance.now();
      const outcome = instance.initOutcome ?? (await instance.run());
      const runMs = performance.now() - runStarted;
      const exitCode = outcome.status === "ok" ? 0 : outcome.reason === "exit" ? (outcome.exitCode ?? 1) : -1;
      return {
        exitCode,
        stdout: instance.stdout.text(),
        stderr:
          instance.stderr.text() +
          (outcome.status === "crashed" && exitCode === -1 ? `trap: ${outcome.trap}` : ""),
        ms: performance.now() - started,
        runMs,
      };
    } finally {
      await instance.dispose();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

function underNodeWasi(testCase: Case): Observed {
  const { root, dirs } = prepareDirs(testCase.spec);
  const stdoutPath = join(root, ".stdout");
  const stderrPath = join(root, ".stderr");
  const stdoutFd = openSync(stdoutPath, "w");
  const stderrFd = openSync(stderrPath, "w");
  const started = performance.now();
  let exitCode: number;
  let runMs = 0;
  try {
    const wasi = new WASI({
      version: "preview1",
      args: [testCase.name, ...testCase.spec.args],
      env: testCase.spec.env,
      preopens: Object.fromEntries(dirs),
      stdout: stdoutFd,
      stderr: stderrFd,
      returnOnExit: true,
    });
    const module = new WebAssembly.Module(new Uint8Array(testCase.wasm));
    const instance = new WebAssembly.Instance(module, { wasi_snapshot_preview1: wasi.wasiImport });
    const runStarted = performance.now();
    try {
      exitCode = wasi.start(instance);
    } catch {
      exitCode = -1;
    }
    runMs = performance.now() - runStarted;
  } finally {
    closeSync(stdoutFd);
    closeSync(stderrFd);
  }
  const observed = {
    exitCode,
    stdout: readFileSync(stdoutPath, "utf8"),
    stderr: readFileSync(stderrPath, "utf8"),
    ms: performance.now() - started,
    runMs,
  };
  rmSync(root, { recursive: true, force: true });
  return observed;
}

export async function runConformance(cases: Case[] = buildCases()): Promise<CaseResult[]> {
  const runtime = new Runtime({ workers: 1 });
  try {
    const results: CaseResult[] = [];
    for (const testCase of cases) {
      const wasmatrix = judge(testCase.spec, await underWasmatrix(runtime, testCase));
      const nodeWasi = judge(testCase.spec, underNodeWasi(testCase));
      results.push({ name: testCase.name, wasmatrix, nodeWasi });
    }
    return results;
  } finally {
    await runtime.close();
  }
}

/** The side-by-side table the test and the bench print. */
export function conformanceTable(results: CaseResult[]): string {
  const width = Math.max(4, ...results.map((r) => r.name.length));
  const mark = (v: Verdict) => (v.pass ? "pass" : "FAIL");
  const lines = [`${"case".padEnd(width)}  wasmatrix  node:wasi  notes`];
  for (const r of results) {
    const notes = [
      r.wasmatrix.pass ? "" : `wasmatrix: ${r.wasmatrix.reason}`,
      r.nodeWasi.pass ? "" : `node:wasi: ${r.nodeWasi.reason}`,
    ]
      .filter(Boolean)
      .join("; ");
    lines.push(
      `${r.name.padEnd(width)}  ${mark(r.wasmatrix).padEnd(9)}  ${mark(r.nodeWasi).padEnd(9)}  ${notes}`,
    );
  }
  const passed = (pick: (r: CaseResult) => Verdict) => results.filter((r) => pick(r).pass).length;
  lines.push(
    `${"total".padEnd(width)}  ${`${passed((r) => r.wasmatrix)}/${results.length}`.padEnd(9)}  ${`${passed((r) => r.nodeWasi)}/${results.length}`.padEnd(9)}`,
  );
  return lines.join("\n");
}

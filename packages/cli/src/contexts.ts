/**
 * Named contexts, as kubectl and docker keep them: a server address with the credentials to
 * reach it, so commands need not repeat --server and --tls-… flags. Stored in
 * `$WASMATRIX_CONFIG_DIR/contexts.json` (default `~/.config/wasmatrix`), mode 0600 because a
 * context may hold a token.
 */
import { chmod, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { UsageError } from "./failure.js";

export interface Context {
  server: string;
  token?: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
}

export interface ContextFile {
  current?: string;
  contexts: Record<string, Context>;
}

export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env["WASMATRIX_CONFIG_DIR"];
  if (explicit !== undefined && explicit !== "") return explicit;
  const xdg = env["XDG_CONFIG_HOME"];
  return join(xdg !== undefined && xdg !== "" ? xdg : join(homedir(), ".config"), "wasmatrix");
}

export function contextsPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(configDir(env), "contexts.json");
}

export async function readContexts(env: NodeJS.ProcessEnv = process.env): Promise<ContextFile> {
  const path = contextsPath(env);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return { contexts: {} };
    throw new UsageError(`cannot read ${path}: ${(error as Error).message}`);
  }
  try {
    const parsed = JSON.parse(text) as Partial<ContextFile>;
    return {
      ...(typeof parsed.current === "string" ? { current: parsed.current } : {}),
      contexts: parsed.contexts !== null && typeof parsed.contexts === "object" ? parsed.contexts : {},
    };
  } catch (error) {
    throw new UsageError(
      `${path} is not valid JSON (${(error as Error).message})`,
      "fix or delete it; `wasmatrix context add` writes a new one",
    );
  }
}

/** Written whole to a temporary file and renamed, so a crash never leaves half a file. */
export async function writeContexts(file: ContextFile, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const dir = configDir(env);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const path = contextsPath(env);
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
  await chmod(temporary, 0o600);
  await rename(temporary, path);
}

/** The context in use: WASMATRIX_CONTEXT, else the file's current one; undefined when there is none. */
export async function currentContext(
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ name: string; context: Context } | undefined> {
  const file = await readContexts(env);
  const name = env["WASMATRIX_CONTEXT"] || file.current;
  if (name === undefined) return undefined;
  const context = file.contexts[name];
  if (context === undefined) {
    throw new UsageError(
      `the context '${name}' does not exist`,
      "`wasmatrix context list` shows the contexts; `wasmatrix context use NAME` picks one",
    );
  }
  return { name, context };
}

import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { type TrustedKeys, trustedKeysFrom } from "@wasmatrix/core";
import { Option } from "commander";
import { UsageError } from "./failure.js";
import { unreadable } from "./files.js";

/** `--trusted-keys DIR` of `up`, `control-plane` and `node-agent`. */
export const trustedKeysOption = (): Option =>
  new Option(
    "--trusted-keys <dir>",
    "accept only modules signed by a key whose .pub file is in this directory (MODULE_SIGNATURE_INVALID otherwise)",
  ).env("WASMATRIX_TRUSTED_KEYS");

/** `--state-dir DIR` of `up` and `control-plane`: the audit log, and with --auth the token keys. */
export const stateDirOption = (): Option =>
  new Option(
    "--state-dir <dir>",
    `where the audit log (audit.jsonl) and, with --auth, the token signing key, token list and revocations live (files mode 0600); default ${defaultStateDir()}`,
  ).env("WASMATRIX_STATE_DIR");

/** `$XDG_STATE_HOME/wasmatrix`, else `~/.local/state/wasmatrix`. */
export function defaultStateDir(): string {
  const xdg = process.env["XDG_STATE_HOME"];
  return join(xdg !== undefined && xdg !== "" ? xdg : join(homedir(), ".local", "state"), "wasmatrix");
}

/** The state dir, created (mode 0700) if missing: a daemon that cannot keep its audit log does not start. */
export function prepareStateDir(dir: string | undefined): string {
  const path = dir ?? defaultStateDir();
  try {
    mkdirSync(path, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new UsageError(
      `cannot create the state directory ${path}: ${(error as Error).message}`,
      "pass a writable one with --state-dir (or WASMATRIX_STATE_DIR)",
    );
  }
  return path;
}

export const auditFileIn = (stateDir: string): string => join(stateDir, "audit.jsonl");

/** The `.pub` files of `dir` as trusted keys; an empty or unreadable directory is a usage error. */
export function loadTrustedKeys(dir: string): TrustedKeys {
  let names: string[];
  try {
    names = readdirSync(dir).filter((name) => name.endsWith(".pub"));
  } catch (error) {
    const { message } = unreadable(dir, error);
    throw new UsageError(
      `--trusted-keys: ${message}`,
      "name a directory of .pub files (wasmatrix keys generate)",
    );
  }
  if (names.length === 0) {
    throw new UsageError(
      `--trusted-keys: no .pub files in ${dir}; every module would be refused`,
      "copy the signer's NAME.pub there (written by `wasmatrix keys generate --out NAME`)",
    );
  }
  return trustedKeysFrom(names.map((name) => ({ name, pem: readFileSync(join(dir, name), "utf8") })));
}

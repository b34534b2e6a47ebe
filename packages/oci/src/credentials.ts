/**
 * Registry credentials, found the way docker finds them: an explicit `user:password`
 * (`--registry-auth`, `WASMATRIX_REGISTRY_AUTH`) first, else the entry for the registry host in
 * `$DOCKER_CONFIG/config.json` (default `~/.docker/config.json`). Credential helpers
 * (`credsStore`) are not run: wasmatrix starts no programs it was not asked to.
 */
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { ErrorCode, WasmatrixError } from "@wasmatrix/core";

export interface Credentials {
  username: string;
  password: string;
}

export function parseRegistryAuth(text: string): Credentials {
  const colon = text.indexOf(":");
  if (colon <= 0) {
    throw new WasmatrixError(ErrorCode.INVALID_REQUEST, "--registry-auth must be USER:PASSWORD", {
      field: "registryAuth",
    });
  }
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

interface DockerConfig {
  auths?: Record<string, { auth?: string; username?: string; password?: string }>;
}

/** The credentials docker's config file holds for `registry`, if any. */
export function dockerConfigCredentials(
  registry: string,
  env: NodeJS.ProcessEnv = process.env,
): Credentials | undefined {
  const file = join(env.DOCKER_CONFIG ?? join(homedir(), ".docker"), "config.json");
  let config: DockerConfig;
  try {
    config = JSON.parse(readFileSync(file, "utf8")) as DockerConfig;
  } catch {
    return undefined;
  }
  const auths = config.auths ?? {};
  const entry = auths[registry] ?? auths[`https://${registry}`] ?? auths[`http://${registry}`];
  if (!entry) return undefined;
  if (entry.username !== undefined && entry.password !== undefined) {
    return { username: entry.username, password: entry.password };
  }
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  return undefined;
}

/**
 * `wasmatrix.yaml`: one application described once (its components, their modules, limits,
 * capabilities, routes and triggers). Parsed with `yaml`, checked against MANIFEST_SCHEMA with
 * ajv, then each value in the CLI's own syntax (`--cap`, `--restart`, sizes, durations) with the
 * CLI's own parsers, so a manifest and a command line can never mean different things. Every
 * error names its line and column.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import {
  type CapabilityAssignment,
  ErrorCode,
  parseAssignment,
  parseRestartPolicy,
  type RestartPolicy,
  WasmatrixError,
} from "@wasmatrix/core";
import { Ajv, type ErrorObject } from "ajv";
import { isMap, LineCounter, parseDocument } from "yaml";
import { parseBytes, parseDuration } from "../units.js";
import { MANIFEST_SCHEMA } from "./manifest-schema.js";

export const MANIFEST_FILE = "wasmatrix.yaml";

export interface RouteSpec {
  name: string;
  path: string;
  host?: string;
  methods?: string[];
  operation?: string;
}

export interface TriggerSpec {
  name: string;
  cron?: string;
  queue?: string;
  group?: string;
  operation: string;
  data?: string;
}

export interface ComponentSpec {
  name: string;
  /** An absolute path, or an `oci://` reference. */
  module: string;
  build?: { command: string; workdir: string; watch: string[] };
  replicas: number;
  restart?: RestartPolicy;
  args: string[];
  env: Record<string, string>;
  labels: Record<string, string>;
  limits: { maxMemoryBytes?: number; fuel?: number; invokeTimeoutMs?: number };
  capabilities: CapabilityAssignment[];
  routes: RouteSpec[];
  triggers: TriggerSpec[];
}

export interface AppManifest {
  name: string;
  version: string;
  components: ComponentSpec[];
  /** sha256 of the file's bytes, recorded with a deploy. */
  hash: string;
  /** The manifest's directory: relative paths start there. */
  dir: string;
}

export interface ManifestProblem {
  line: number;
  column: number;
  /** `components[0].replicas` */
  path: string;
  message: string;
}

const ajv = new Ajv({ allErrors: true, strict: false });
const validate = ajv.compile(MANIFEST_SCHEMA);

export async function loadManifest(file: string, vars: Record<string, string> = {}): Promise<AppManifest> {
  const text = await readFile(file, "utf8").catch((error: NodeJS.ErrnoException) => {
    throw new WasmatrixError(
      ErrorCode.INVALID_REQUEST,
      `cannot read ${file}: ${error.code ?? error.message}; create one with \`wasmatrix new\` or pass -f FILE`,
      { file },
    );
  });
  return parseManifest(text, { file, vars });
}

/** Parses and checks a manifest's text; throws INVALID_REQUEST with every problem in `details.problems`. */
export function parseManifest(
  text: string,
  options: { file: string; vars?: Record<string, string> },
): AppManifest {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number) => lines.linePos(offset);
  const problems: ManifestProblem[] = doc.errors.map((error) => {
    const { line, col } = at(error.pos[0]);
    return { line, column: col, path: "", message: error.message.split("\n")[0] ?? error.message };
  });
  if (problems.length === 0) {
    const value = doc.toJS() as unknown;
    if (!validate(value)) {
      for (const error of validate.errors ?? []) problems.push(schemaProblem(doc, at, error));
    } else {
      const place = (path: (string | number)[]) => placeOf(doc, at, path);
      const manifest = build(value as RawManifest, options, place, problems, text);
      if (problems.length === 0) return manifest;
    }
  }
  throw manifestError(options.file, problems);
}

function manifestError(file: string, problems: ManifestProblem[]): WasmatrixError {
  const sorted = [...problems].sort((a, b) => a.line - b.line || a.column - b.column);
  const lines = sorted.map(
    (p) => `${file}:${p.line}:${p.column}: ${p.path ? `${p.path}: ` : ""}${p.message}`,
  );
  return new WasmatrixError(
    ErrorCode.INVALID_REQUEST,
    `${file} is not a valid manifest:\n${lines.join("\n")}`,
    {
      file,
      problems: sorted,
    },
  );
}

type At = (offset: number) => { line: number; col: number };

function formatPath(path: (string | number)[]): string {
  return path.reduce<string>(
    (text, part) => (typeof part === "number" ? `${text}[${part}]` : text ? `${text}.${part}` : part),
    "",
  );
}

/** The position of the deepest node of `path` the document has (a missing key points at its parent). */
function placeOf(doc: ReturnType<typeof parseDocument>, at: At, path: (string | number)[], key = false) {
  return (message: string): ManifestProblem => {
    for (let depth = path.length; depth >= 0; depth--) {
      const prefix = path.slice(0, depth);
      const parent = depth > 0 ? doc.getIn(prefix.slice(0, -1), true) : undefined;
      let node = depth === 0 ? doc.contents : doc.getIn(prefix, true);
      if (key && depth === path.length && isMap(parent)) {
        const pair = parent.items.find(
          (item) => (item.key as { value?: unknown })?.value === path[path.length - 1],
        );
        if (pair?.key) node = pair.key as typeof node;
      }
      const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
      if (range) {
        const { line, col } = at(range[0]);
        return { line, column: col, path: formatPath(path), message };
      }
    }
    return { line: 1, column: 1, path: formatPath(path), message };
  };
}

function schemaProblem(doc: ReturnType<typeof parseDocument>, at: At, error: ErrorObject): ManifestProblem {
  const path = error.instancePath
    .split("/")
    .slice(1)
    .map((part) => part.replaceAll("~1", "/").replaceAll("~0", "~"))
    .map((part) => (/^\d+$/.test(part) ? Number(part) : part));
  if (error.keyword === "additionalProperty" || error.keyword === "additionalProperties") {
    const extra = String((error.params as { additionalProperty: string }).additionalProperty);
    return placeOf(doc, at, [...path, extra], true)(`unknown field '${extra}'`);
  }
  if (error.keyword === "required") {
    const missing = String((error.params as { missingProperty: string }).missingProperty);
    return placeOf(doc, at, path)(`'${missing}' is required`);
  }
  if (error.keyword === "oneOf")
    return placeOf(doc, at, path)("a trigger has exactly one of 'cron' and 'queue'");
  return placeOf(doc, at, path)(error.message ?? error.keyword);
}

interface RawComponent {
  name: string;
  module: string;
  build?: { command: string; workdir?: string; watch?: string[] };
  replicas?: number;
  restart?: string;
  args?: string[];
  env?: Record<string, string>;
  labels?: Record<string, string>;
  limits?: { memory?: string | number; fuel?: number; timeout?: string | number };
  capabilities?: string[];
  routes?: { name?: string; path: string; host?: string; methods?: string[]; operation?: string }[];
  triggers?: TriggerSpec[];
}

interface RawManifest {
  app: { name: string; version: string };
  variables?: Record<string, string | number | boolean>;
  components: RawComponent[];
}

function build(
  raw: RawManifest,
  options: { file: string; vars?: Record<string, string> },
  place: (path: (string | number)[]) => (message: string) => ManifestProblem,
  problems: ManifestProblem[],
  text: string,
): AppManifest {
  const variables: Record<string, string> = {};
  for (const [key, value] of Object.entries(raw.variables ?? {})) variables[key] = String(value);
  Object.assign(variables, options.vars ?? {});
  const dir = dirname(resolve(options.file));
  const check = <T>(path: (string | number)[], body: () => T): T | undefined => {
    try {
      return body();
    } catch (error) {
      problems.push(place(path)(error instanceof Error ? error.message : String(error)));
      return undefined;
    }
  };
  const expand = (path: (string | number)[], value: string): string =>
    value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (whole, name: string) => {
      const found = variables[name];
      if (found !== undefined) return found;
      problems.push(
        place(path)(`unknown variable \${${name}}; define it under variables: or pass --var ${name}=…`),
      );
      return whole;
    });
  const expandMap = (path: (string | number)[], map: Record<string, string> = {}) =>
    Object.fromEntries(Object.entries(map).map(([k, v]) => [k, expand([...path, k], v)]));

  const seen = new Set<string>();
  const components = raw.components.map((c, i): ComponentSpec => {
    const path = ["components", i];
    if (seen.has(c.name)) problems.push(place([...path, "name"])(`a second component named '${c.name}'`));
    seen.add(c.name);
    const module = expand([...path, "module"], c.module);
    const limits: ComponentSpec["limits"] = {};
    if (c.limits?.memory !== undefined) {
      const bytes = check([...path, "limits", "memory"], () => parseBytes(String(c.limits?.memory)));
      if (bytes !== undefined) limits.maxMemoryBytes = bytes;
    }
    if (c.limits?.fuel !== undefined) limits.fuel = c.limits.fuel;
    if (c.limits?.timeout !== undefined) {
      const ms = check([...path, "limits", "timeout"], () => parseDuration(String(c.limits?.timeout)));
      if (ms !== undefined) limits.invokeTimeoutMs = ms;
    }
    const restart =
      c.restart === undefined
        ? undefined
        : check([...path, "restart"], () => parseRestartPolicy(c.restart as string));
    const capabilities = (c.capabilities ?? []).flatMap((spec, j) => {
      const parsed = check([...path, "capabilities", j], () => parseAssignment(spec));
      return parsed === undefined ? [] : [parsed];
    });
    const routeNames = new Set<string>();
    const routes = (c.routes ?? []).map((r, j): RouteSpec => {
      const name = r.name ?? (j === 0 ? `${raw.app.name}-${c.name}` : `${raw.app.name}-${c.name}-${j + 1}`);
      if (routeNames.has(name))
        problems.push(place([...path, "routes", j])(`a second route named '${name}'`));
      routeNames.add(name);
      return {
        name,
        path: r.path,
        ...(r.host !== undefined ? { host: r.host } : {}),
        ...(r.methods !== undefined ? { methods: r.methods } : {}),
        ...(r.operation !== undefined ? { operation: r.operation } : {}),
      };
    });
    return {
      name: c.name,
      module: module.startsWith("oci://") ? module : resolve(dir, module),
      ...(c.build
        ? {
            build: {
              command: expand([...path, "build", "command"], c.build.command),
              workdir: resolve(dir, c.build.workdir ?? "."),
              watch: c.build.watch ?? [],
            },
          }
        : {}),
      replicas: c.replicas ?? 1,
      ...(restart !== undefined ? { restart } : {}),
      args: (c.args ?? []).map((a, j) => expand([...path, "args", j], a)),
      env: expandMap([...path, "env"], c.env),
      labels: { ...(c.labels ?? {}) },
      limits,
      capabilities,
      routes,
      triggers: c.triggers ?? [],
    };
  });
  return {
    name: raw.app.name,
    version: expand(["app", "version"], raw.app.version),
    components,
    hash: `sha256:${createHash("sha256").update(text).digest("hex")}`,
    dir,
  };
}

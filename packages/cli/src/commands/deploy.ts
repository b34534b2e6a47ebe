import { readFile } from "node:fs/promises";
import { basename, resolve } from "node:path";
import { startRequest, stopRequest, type WasmatrixClient, watchRequest } from "@wasmatrix/client";
import { isEnded } from "@wasmatrix/core";
import { isOciReference } from "@wasmatrix/oci";
import type * as pb from "@wasmatrix/proto";
import { assignmentToProto, restartPolicyToProto, startRequestFor } from "@wasmatrix/proto";
import type { Command } from "commander";
import { runBuild } from "../app/build.js";
import { loadManifest, MANIFEST_FILE } from "../app/manifest.js";
import { type DeployPlan, instancesOf, planDeploy, REVISION_LABEL, revisionOf } from "../app/plan.js";
import { GUEST_TIMEOUT_MS, type ServerOptions, withClient, withServerOption } from "../connection.js";
import { UsageError } from "../failure.js";
import { parseEnvPair, parseMs, repeatable } from "../options.js";
import { print, printError, printJson } from "../output.js";
import { formatTable } from "../table.js";
import { formatAgo } from "../time-format.js";

interface DeployOptions extends ServerOptions {
  file: string;
  var?: [string, string][];
  dryRun?: boolean;
  json?: boolean;
  drain?: number;
}

const DEFAULT_DRAIN_MS = 5_000;
const progress = (line: string) => printError(`${line}\n`);

function planText(plan: DeployPlan): string {
  const lines = [
    `${plan.app} ${plan.version}: revision ${plan.revision}${plan.previous ? ` replaces revision ${plan.previous}` : " (first deploy)"}`,
  ];
  for (const s of plan.start) {
    lines.push(
      `  start ${s.instanceId}  ${isOciReference(s.component.module) ? s.component.module : basename(s.component.module)}`,
    );
  }
  for (const id of plan.stop) lines.push(`  stop  ${id}  (after the new revision runs)`);
  return `${lines.join("\n")}\n`;
}

/** Every app.deployed fact the server still holds, oldest first. */
async function deployments(
  client: WasmatrixClient,
  app?: string,
): Promise<(pb.Fact & { data: DeployedData })[]> {
  const found: (pb.Fact & { data: DeployedData })[] = [];
  for await (const fact of client.watchEvents(watchRequest({ kinds: ["app.deployed"], noFollow: true }))) {
    const data = JSON.parse(fact.dataJson) as DeployedData;
    if (app === undefined || data.app === app) found.push({ ...fact, data });
  }
  return found;
}

interface DeployedData {
  app: string;
  version: string;
  revision: number;
  manifestHash?: string;
  modules?: Record<string, string>;
  rolledBackFrom?: number;
}

/** Stops the old revision's instances gracefully, each given `drainMs` to finish what it has in flight. */
async function drain(client: WasmatrixClient, ids: readonly string[], drainMs: number): Promise<void> {
  for (const id of ids) {
    progress(`stop  ${id}`);
    await client.stopInstance(stopRequest(id, drainMs));
  }
}

async function deploy(client: WasmatrixClient, options: DeployOptions): Promise<void> {
  const manifest = await loadManifest(resolve(options.file), Object.fromEntries(options.var ?? []));
  const { instances } = await client.listInstances({ nodeId: "", status: "" });
  const plan = planDeploy(manifest, instances);
  if (options.dryRun) {
    if (options.json)
      printJson({
        dryRun: true,
        ...plan,
        start: plan.start.map((s) => ({
          instanceId: s.instanceId,
          component: s.component.name,
          labels: s.labels,
        })),
      });
    else print(planText(plan));
    return;
  }
  progress(planText(plan).trimEnd());
  for (const component of manifest.components) {
    if (component.build) progress(`build ${component.name}: ${component.build.command}`);
    await runBuild(component);
  }
  const modules = new Map<string, Buffer>();
  for (const component of manifest.components) {
    if (!isOciReference(component.module)) modules.set(component.name, await readFile(component.module));
  }
  // The new revision first, all of it running, before anything old is touched: a failure here
  // leaves the old revision serving, and the partial new one is stopped again.
  const started: pb.Instance[] = [];
  try {
    for (const s of plan.start) {
      const c = s.component;
      const module = modules.get(c.name);
      progress(`start ${s.instanceId}`);
      const instance = await client.startInstance(
        startRequest({
          instanceId: s.instanceId,
          ...(module ? { module } : { moduleRef: c.module }),
          args: [c.name, ...c.args],
          env: c.env,
          limits: c.limits,
          ...(c.restart ? { restartPolicy: restartPolicyToProto(c.restart) } : {}),
          assignments: c.capabilities.map(assignmentToProto),
          labels: s.labels,
        }),
      );
      started.push(instance);
      if (instance.status === "crashed")
        throw new UsageError(`${s.instanceId} crashed as it started`, `wasmatrix inspect ${s.instanceId}`);
    }
  } catch (error) {
    progress(
      `deploy failed; stopping the ${started.length} new instance(s), revision ${plan.previous ?? "-"} keeps serving`,
    );
    await drain(
      client,
      started.map((i) => i.instanceId),
      0,
    ).catch(() => undefined);
    throw error;
  }
  await drain(client, plan.stop, options.drain ?? DEFAULT_DRAIN_MS);
  const digests: Record<string, string> = {};
  for (const instance of started) {
    const component = instance.labels["wasmatrix.dev/component"];
    if (component) digests[component] = instance.moduleDigest;
  }
  const fact = await client.recordDeployment({
    app: plan.app,
    version: plan.version,
    revision: plan.revision,
    manifestHash: manifest.hash,
    modules: digests,
    rolledBackFrom: 0,
  });
  if (options.json)
    printJson({
      app: plan.app,
      version: plan.version,
      revision: plan.revision,
      started: started.map((i) => i.instanceId),
      stopped: plan.stop,
      modules: digests,
      factSeq: fact.seq,
    });
  else
    print(
      `deployed ${plan.app} ${plan.version} as revision ${plan.revision} (${started.length} instance(s))`,
    );
}

interface RollbackOptions extends ServerOptions {
  to?: string;
  json?: boolean;
  drain?: number;
}

async function rollback(client: WasmatrixClient, app: string, options: RollbackOptions): Promise<void> {
  const history = await deployments(client, app);
  const current = history.at(-1);
  if (current === undefined)
    throw new UsageError(
      `no deploy of '${app}' is recorded on this server`,
      "`wasmatrix app list` shows the apps it knows",
    );
  const target =
    options.to === undefined
      ? [...history].reverse().find((d) => d.data.revision !== current.data.revision)
      : [...history]
          .reverse()
          .find(
            (d) =>
              d.data.version === options.to ||
              `r${d.data.revision}` === options.to ||
              String(d.data.revision) === options.to,
          );
  if (target === undefined) {
    throw new UsageError(
      options.to === undefined
        ? `'${app}' has no earlier revision to roll back to`
        : `'${app}' has no recorded version or revision '${options.to}'`,
      `\`wasmatrix app history ${app}\` lists them`,
    );
  }
  const { instances } = await client.listInstances({ nodeId: "", status: "" });
  const mine = instancesOf(app, instances);
  const back = mine.filter((i) => revisionOf(i) === target.data.revision);
  if (back.length === 0)
    throw new UsageError(
      `the instances of revision ${target.data.revision} are no longer known to the server`,
      "deploy that version's manifest again",
    );
  const live = mine
    .filter((i) => !isEnded(i.status) && revisionOf(i) !== target.data.revision)
    .map((i) => i.instanceId)
    .sort();
  for (const instance of back) {
    if (!isEnded(instance.status)) continue;
    progress(`start ${instance.instanceId} (revision ${target.data.revision}, as it was recorded)`);
    await client.startInstance(startRequestFor(instance));
  }
  await drain(client, live, options.drain ?? DEFAULT_DRAIN_MS);
  await client.recordDeployment({
    app,
    version: target.data.version,
    revision: target.data.revision,
    manifestHash: target.data.manifestHash ?? "",
    modules: target.data.modules ?? {},
    rolledBackFrom: current.data.revision,
  });
  if (options.json)
    printJson({
      app,
      version: target.data.version,
      revision: target.data.revision,
      rolledBackFrom: current.data.revision,
      stopped: live,
    });
  else
    print(
      `rolled ${app} back to ${target.data.version} (revision ${target.data.revision}) from revision ${current.data.revision}`,
    );
}

export function registerDeploy(program: Command): void {
  withServerOption(
    program
      .command("deploy")
      .description(
        "Build and deploy the application a wasmatrix.yaml describes; an update replaces the running revision without a gap",
      )
      .option("-f, --file <path>", "the manifest", MANIFEST_FILE)
      .option("--var <name=value>", "set a manifest variable (repeatable)", repeatable(parseEnvPair))
      .option("--dry-run", "print the plan and change nothing")
      .option(
        "--drain <duration>",
        "how long an old instance may finish in-flight work before it is stopped (default 5s)",
        parseMs,
      )
      .option("--json", "print the result (or the plan) as JSON")
      .addHelpText(
        "after",
        `
A deploy builds each component (its build.command), starts a new revision of every component
(instances <app>-<component>-r<N>[-<replica>], labelled wasmatrix.dev/app, /component, /revision,
/version, /deployment), waits until all of it runs, then stops the previous revision's instances
with a drain deadline, and records an app.deployed fact with the version, the module digests and
the manifest's hash. If any new instance fails to start, the new ones are stopped again and the
old revision keeps serving. Manifest reference: docs/manifest.md.

Examples:
  wasmatrix deploy --dry-run
  wasmatrix deploy -f apps/shop/wasmatrix.yaml --var REGISTRY=127.0.0.1:5000`,
      ),
  ).action(async (options: DeployOptions) => {
    await withClient(options, { timeoutMs: GUEST_TIMEOUT_MS }, (client) => deploy(client, options));
  });

  withServerOption(
    program
      .command("rollback")
      .description("Put an earlier recorded revision of an application back in service")
      .argument("<app>", "the application's name")
      .option("--to <version>", "a recorded version (or revision rN); default the one before the current")
      .option("--drain <duration>", "drain deadline for the instances it stops (default 5s)", parseMs)
      .option("--json", "print the result as JSON")
      .addHelpText(
        "after",
        `
The earlier revision's instances are started again exactly as they were recorded (same module by
digest, env, limits, capabilities, labels), then the current revision is drained and stopped, and an
app.deployed fact with rolledBackFrom is recorded.

Examples:
  wasmatrix rollback shop
  wasmatrix rollback shop --to 1.2.0`,
      ),
  ).action(async (app: string, options: RollbackOptions) => {
    await withClient(options, { timeoutMs: GUEST_TIMEOUT_MS }, (client) => rollback(client, app, options));
  });

  const appCommand = program.command("app").description("Applications deployed with `wasmatrix deploy`");
  withServerOption(
    appCommand
      .command("list")
      .description("Applications, their current version and revision")
      .option("--json", "print JSON"),
  ).action(async (options: ServerOptions & { json?: boolean }) => {
    await withClient(options, {}, async (client) => {
      const latest = new Map<string, pb.Fact & { data: DeployedData }>();
      for (const d of await deployments(client)) latest.set(d.data.app, d);
      const { instances } = await client.listInstances({ nodeId: "", status: "" });
      const rows = [...latest.values()].map((d) => ({
        app: d.data.app,
        version: d.data.version,
        revision: d.data.revision,
        running: instancesOf(d.data.app, instances).filter(
          (i) => i.status === "running" && i.labels[REVISION_LABEL] === String(d.data.revision),
        ).length,
        deployedAtMs: d.atMs,
      }));
      if (options.json) printJson(rows);
      else
        print(
          formatTable(
            ["APP", "VERSION", "REVISION", "RUNNING", "DEPLOYED"],
            rows.map((r) => [r.app, r.version, r.revision, r.running, formatAgo(r.deployedAtMs, Date.now())]),
          ),
        );
    });
  });
  withServerOption(
    appCommand
      .command("history")
      .description("Every recorded deploy and rollback of an application")
      .argument("<app>")
      .option("--json", "print JSON"),
  ).action(async (app: string, options: ServerOptions & { json?: boolean }) => {
    await withClient(options, {}, async (client) => {
      const history = await deployments(client, app);
      if (options.json) printJson(history.map((d) => ({ ...d.data, seq: d.seq, atMs: d.atMs })));
      else
        print(
          formatTable(
            ["SEQ", "VERSION", "REVISION", "WHEN", "NOTE"],
            history.map((d) => [
              d.seq,
              d.data.version,
              d.data.revision,
              formatAgo(d.atMs, Date.now()),
              d.data.rolledBackFrom ? `rollback from r${d.data.rolledBackFrom}` : "",
            ]),
          ),
        );
    });
  });
}

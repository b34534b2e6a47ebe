/**
 * A deploy's routes and triggers. They target the label every revision of a component carries
 * (SERVICE_LABEL), so they are written once and stay put while revisions come and go: a new
 * revision starts serving as soon as it runs, the old one stops serving as it drains, and the
 * gateway retries a request that picked an instance just stopped on another replica. Only a
 * changed route or trigger is replaced (removed, then added: a brief gap for that route alone).
 */
import type { WasmatrixClient } from "@wasmatrix/client";
import type * as pb from "@wasmatrix/proto";
import { routeFromProto, routeToProto } from "@wasmatrix/proto";
import type { AppManifest, ComponentSpec } from "./manifest.js";
import { SERVICE_LABEL, serviceOf } from "./plan.js";

export function routeFor(
  app: string,
  component: ComponentSpec,
  route: ComponentSpec["routes"][number],
): pb.Route {
  return {
    name: route.name,
    pathPrefix: route.path,
    host: route.host ?? "",
    methods: route.methods ?? [],
    targetInstance: "",
    targetLabelKey: SERVICE_LABEL,
    targetLabelValue: serviceOf(app, component.name),
    operation: route.operation ?? "",
    createdAtMs: 0,
  };
}

export function triggerFor(
  app: string,
  component: ComponentSpec,
  trigger: ComponentSpec["triggers"][number],
): pb.Trigger {
  return {
    name: trigger.name,
    cron: trigger.cron ?? "",
    queueSubject: trigger.queue ?? "",
    queueGroup: trigger.group ?? "",
    targetInstanceId: "",
    targetLabels: { [SERVICE_LABEL]: serviceOf(app, component.name) },
    operation: trigger.operation,
    data: Buffer.from(trigger.data ?? ""),
    createdAtMs: 0,
    nextFireAtMs: 0,
    counters: undefined,
    deadLetterSubject: "",
    maxAttempts: 0,
  };
}

/** Compared as the server keeps them (defaults filled in, methods upper case…), not as written. */
const canonicalRoute = (route: pb.Route) =>
  JSON.stringify({ ...routeToProto(routeFromProto(route)), createdAtMs: 0 });
const sameRoute = (a: pb.Route, b: pb.Route) => canonicalRoute(a) === canonicalRoute(b);

const sameTrigger = (a: pb.Trigger, b: pb.Trigger) =>
  a.cron === b.cron &&
  a.queueSubject === b.queueSubject &&
  a.queueGroup === b.queueGroup &&
  a.operation === b.operation &&
  Buffer.from(a.data).equals(Buffer.from(b.data)) &&
  JSON.stringify(a.targetLabels) === JSON.stringify(b.targetLabels);

/** Puts the manifest's routes and triggers in place; returns what it changed, for the progress lines. */
export async function syncIngress(client: WasmatrixClient, manifest: AppManifest): Promise<string[]> {
  const changed: string[] = [];
  const routes = manifest.components.flatMap((c) => c.routes.map((r) => routeFor(manifest.name, c, r)));
  const triggers = manifest.components.flatMap((c) => c.triggers.map((t) => triggerFor(manifest.name, c, t)));
  if (routes.length > 0) {
    const existing = new Map((await client.listRoutes()).routes.map((r) => [r.name, r]));
    for (const route of routes) {
      const current = existing.get(route.name);
      if (current !== undefined && sameRoute(current, route)) continue;
      if (current !== undefined) await client.removeRoute({ name: route.name });
      await client.addRoute({ route });
      changed.push(`route ${route.name} ${route.pathPrefix} → ${route.targetLabelValue}`);
    }
  }
  if (triggers.length > 0) {
    const existing = new Map((await client.listTriggers()).triggers.map((t) => [t.name, t]));
    for (const trigger of triggers) {
      const current = existing.get(trigger.name);
      if (current !== undefined && sameTrigger(current, trigger)) continue;
      if (current !== undefined) await client.removeTrigger({ name: trigger.name });
      await client.addTrigger({ trigger });
      changed.push(
        `trigger ${trigger.name} ${trigger.cron || trigger.queueSubject} → ${serviceOfLabels(trigger)}`,
      );
    }
  }
  return changed;
}

const serviceOfLabels = (trigger: pb.Trigger) => trigger.targetLabels[SERVICE_LABEL] ?? "";

/**
 * What a deploy does, decided before anything is done (so `--dry-run` prints exactly what would
 * happen): the revision it puts in service, the instances it starts and the ones it then stops.
 * Revisions are numbered from the instances' own labels, so the plan needs nothing but the
 * server's instance list: no desired-state store.
 */
import { isEnded } from "@wasmatrix/core";
import type * as pb from "@wasmatrix/proto";
import type { AppManifest, ComponentSpec } from "./manifest.js";

export const APP_LABEL = "wasmatrix.dev/app";
export const COMPONENT_LABEL = "wasmatrix.dev/component";
export const REVISION_LABEL = "wasmatrix.dev/revision";
export const VERSION_LABEL = "wasmatrix.dev/version";
/** One value per component and revision: what a route to the component's current revision selects. */
export const DEPLOYMENT_LABEL = "wasmatrix.dev/deployment";

export interface PlannedStart {
  instanceId: string;
  component: ComponentSpec;
  labels: Record<string, string>;
}

export interface DeployPlan {
  app: string;
  version: string;
  revision: number;
  /** The revision in service now, if any. */
  previous?: number;
  start: PlannedStart[];
  /** Instances of earlier revisions still running (or starting, restarting, pending). */
  stop: string[];
}

export function revisionOf(instance: pb.Instance): number {
  const value = Number(instance.labels[REVISION_LABEL]);
  return Number.isSafeInteger(value) && value > 0 ? value : 0;
}

export function instancesOf(app: string, instances: readonly pb.Instance[]): pb.Instance[] {
  return instances.filter((instance) => instance.labels[APP_LABEL] === app);
}

export function instanceIdFor(
  app: string,
  component: string,
  revision: number,
  replica: number,
  replicas: number,
): string {
  return `${app}-${component}-r${revision}${replicas > 1 ? `-${replica}` : ""}`;
}

export function deploymentLabels(
  app: string,
  version: string,
  component: string,
  revision: number,
): Record<string, string> {
  return {
    [APP_LABEL]: app,
    [COMPONENT_LABEL]: component,
    [REVISION_LABEL]: String(revision),
    [VERSION_LABEL]: version,
    [DEPLOYMENT_LABEL]: `${app}-${component}-r${revision}`,
  };
}

export function planDeploy(manifest: AppManifest, instances: readonly pb.Instance[]): DeployPlan {
  const mine = instancesOf(manifest.name, instances);
  const highest = mine.reduce((max, instance) => Math.max(max, revisionOf(instance)), 0);
  const revision = highest + 1;
  const live = mine.filter((instance) => !isEnded(instance.status));
  const previous = live.reduce((max, instance) => Math.max(max, revisionOf(instance)), 0);
  const start = manifest.components.flatMap((component) =>
    Array.from({ length: component.replicas }, (_, i) => ({
      instanceId: instanceIdFor(manifest.name, component.name, revision, i + 1, component.replicas),
      component,
      labels: {
        ...component.labels,
        ...deploymentLabels(manifest.name, manifest.version, component.name, revision),
      },
    })),
  );
  return {
    app: manifest.name,
    version: manifest.version,
    revision,
    ...(previous > 0 ? { previous } : {}),
    start,
    stop: live.map((instance) => instance.instanceId).sort(),
  };
}

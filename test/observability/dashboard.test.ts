import { readFileSync } from "node:fs";
import { PromMetrics } from "@wasmatrix/daemons";
import { describe, expect, it } from "vitest";

/** The Grafana dashboard and docs/observability.md name only metrics the daemons export, and the docs name all of them. */

const dashboard = readFileSync(new URL("../../deploy/grafana/wasmatrix.json", import.meta.url), "utf8");
const docs = readFileSync(new URL("../../docs/observability.md", import.meta.url), "utf8");

/** Families, without the series suffixes of histograms. */
function families(text: string): Set<string> {
  return new Set(
    [...text.matchAll(/\bwasmatrix_[a-z_]+/g)].map((m) => m[0].replace(/_(bucket|count|sum)$/, "")),
  );
}

async function exported(): Promise<Set<string>> {
  const text = await new PromMetrics({ defaultMetrics: false }).scrape();
  return new Set([...text.matchAll(/^# HELP (wasmatrix_[a-z_]+)/gm)].map((m) => m[1]!));
}

describe("the Grafana dashboard and the metrics docs", () => {
  it("query only metrics the daemons export", async () => {
    const names = await exported();
    const used = families(dashboard);
    expect(used.size).toBeGreaterThan(10);
    expect([...used].filter((name) => !names.has(name))).toEqual([]);
    expect([...families(docs)].filter((name) => !names.has(name))).toEqual([]);
  });

  it("document every metric the daemons export", async () => {
    const documented = families(docs);
    expect([...(await exported())].filter((name) => !documented.has(name))).toEqual([]);
  });

  it("is valid dashboard JSON whose every panel has a query", () => {
    const parsed = JSON.parse(dashboard) as { panels: { targets: { expr: string }[] }[] };
    expect(parsed.panels.length).toBeGreaterThan(0);
    for (const panel of parsed.panels) expect(panel.targets.length).toBeGreaterThan(0);
  });
});

// packaging/grafana-netpunch.json: valid JSON, the panels an operator needs first, and every query names
// only metrics that serve --metrics really exposes (a renamed metric would leave a panel silently empty).
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { formatExposition } from "../../../src/metrics/exposition.ts";
import { LagMeter } from "../../../src/metrics/lag.ts";
import { processFamilies } from "../../../src/metrics/process.ts";
import { rendezvousFamilies } from "../../../src/metrics/rendezvous.ts";
import { StoreMetrics } from "../../../src/metrics/store.ts";

interface Panel {
  id: number;
  title: string;
  datasource?: { type: string };
  targets?: { expr: string }[];
}

const dashboard = JSON.parse(
  readFileSync(join(import.meta.dir, "../../../packaging/grafana-netpunch.json"), "utf8"),
) as { title: string; panels: Panel[] };

/** The sample names of a real server's exposition (a histogram's _bucket, _sum and _count included). */
const exposed = new Set(
  formatExposition([
    ...rendezvousFamilies({
      packetsIn: 0,
      packetsOut: 0,
      pairsMade: 0,
      sessions: 0,
      dropped: {},
      relays: 0,
      relayedBytes: 0,
      stunAnswered: 0,
      matchRetransmits: 0,
      relaysOpened: 0,
      relaysRefused: { off: 0, full: 0, limit: 0 },
      relayedBytesToward: { a: 0, b: 0 },
      replayNonces: 0,
    }),
    ...new StoreMetrics().families(),
    ...processFamilies({
      memory: process.memoryUsage(),
      lag: new LagMeter(),
      startedAt: 0,
    }),
  ])
    .split("\n")
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => l.split(/[{ ]/)[0] as string),
);

describe("packaging/grafana-netpunch.json", () => {
  test("has the first panels an operator needs", () => {
    const titles = dashboard.panels.map((p) => p.title);
    for (const t of ["Pairs per minute", "Drops by reason", "Relays", "Event-loop lag"])
      expect(titles).toContain(t);
  });

  test("panel ids are unique and every panel queries Prometheus", () => {
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of dashboard.panels) {
      expect(p.datasource?.type).toBe("prometheus");
      expect(p.targets?.length ?? 0).toBeGreaterThan(0);
    }
  });

  test.each(dashboard.panels.map((p) => [p.title, p] as const))(
    "%s: every metric its queries name is exposed",
    (_title, panel) => {
      for (const { expr } of panel.targets ?? []) {
        const names = [...expr.matchAll(/\bnetpunch_[a-z0-9_]+/g)].map((m) => m[0]);
        expect(names.length).toBeGreaterThan(0);
        expect(names.filter((n) => !exposed.has(n))).toEqual([]);
      }
    },
  );
});

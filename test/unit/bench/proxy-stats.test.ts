import { describe, expect, test } from "bun:test";
import {
  added,
  bestStep,
  columns,
  figures,
  fixed,
  median,
  medianFigures,
  percentile,
  ratio,
  roundRatios,
  type StepSample,
} from "../../../bench/lib/proxy-stats.ts";

const sample = (over: Partial<StepSample> = {}): StepSample => ({
  size: 1400,
  offered: 90_000,
  sent: 90_000,
  delivered: 90_000,
  sendMs: 1_000,
  peerCpuUs: 1_000_000,
  serverCpuUs: 0,
  ...over,
});

describe("bench/proxy arithmetic", () => {
  test("percentile by nearest rank, whatever the order; NaN for no values", () => {
    const v = [5, 1, 4, 2, 3, 10, 9, 8, 7, 6];
    expect(percentile(v, 50)).toBe(5);
    expect(percentile(v, 99)).toBe(10);
    expect(percentile(v, 90)).toBe(9);
    expect(percentile(v, 0)).toBe(1);
    expect(percentile([0.25], 99)).toBe(0.25);
    expect(percentile([], 50)).toBeNaN();
    expect(v[0]).toBe(5); // the input is not sorted in place
  });

  test("median: the middle value, or the middle pair's mean", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });

  test("figures: 90,000 datagrams of 1400 B in 1 s is 1008 Mbit/s; one core of peers is 1.008 Gbit/s per core", () => {
    const f = figures(sample({ serverCpuUs: 450_000 }));
    expect(f.pps).toBe(90_000);
    expect(f.mbps).toBeCloseTo(1008, 6);
    expect(f.loss).toBe(0);
    expect(f.peerUs).toBeCloseTo(11.111, 3);
    expect(f.serverUs).toBe(5);
    expect(f.peerCores).toBe(1);
    expect(f.gbitPerCore).toBeCloseTo(1.008, 6);
  });

  test("figures: loss, rate over the sending time, cores over it; per core is bits per CPU-second", () => {
    const f = figures(sample({ sent: 100_000, delivered: 25_000, sendMs: 500, peerCpuUs: 250_000 }));
    expect(f.loss).toBe(0.75);
    expect(f.pps).toBe(50_000);
    expect(f.peerCores).toBe(0.5);
    expect(f.gbitPerCore).toBeCloseTo((25_000 * 1400 * 8) / 1e9 / 0.25, 9);
  });

  test("figures: peers that hardly ran (a hand-off to the relay) get no per-core figure", () => {
    expect(figures(sample({ peerCpuUs: 5_000 })).gbitPerCore).toBeNaN();
    expect(figures(sample({ delivered: 0, sent: 0 })).loss).toBe(0);
    // A thread that ended mid-step leaves the live threads' sum a little lower: that is no negative CPU.
    expect(figures(sample({ serverCpuUs: -600 })).serverUs).toBe(0);
  });

  test("bestStep: the offered rate with the highest median delivered rate, with its median figures", () => {
    const steps = [
      sample({ offered: 30_000, sent: 30_000, delivered: 30_000 }),
      sample({ offered: 30_000, sent: 30_000, delivered: 29_000 }),
      sample({ offered: 0, sent: 400_000, delivered: 40_000 }),
      sample({ offered: 0, sent: 400_000, delivered: 20_000 }),
      sample({ offered: 0, sent: 400_000, delivered: 35_000 }),
    ];
    const b = bestStep(steps);
    expect(b?.offered).toBe(0);
    expect(b?.figures.pps).toBe(35_000);
    expect(bestStep(steps.slice(0, 2))?.figures.pps).toBe(29_500);
    expect(bestStep([])).toBeUndefined();
  });

  test("medianFigures leaves out figures that do not apply", () => {
    const f = medianFigures([figures(sample({ peerCpuUs: 0 })), figures(sample())]);
    expect(f.gbitPerCore).toBeCloseTo(1.008, 6);
  });

  test("ratio, fixed and added format what they can and say '-' for the rest", () => {
    expect(ratio(20_000, 100_000)).toBe("0.20x");
    expect(ratio(1, 0)).toBe("-");
    expect(ratio(Number.NaN, 1)).toBe("-");
    expect(fixed(1.23456, 2)).toBe("1.23");
    expect(fixed(Number.NaN, 2)).toBe("-");
    expect(added(0.36, 0.03)).toBe("+0.330");
    expect(added(0.02, 0.03)).toBe("-0.010");
    expect(added(Number.NaN, 0.03)).toBe("-");
  });

  test("columns: first cell left-aligned, the rest right-aligned, no trailing blanks", () => {
    expect(columns(["  a", "1", "22"], [5, 3, 3])).toBe("  a     1  22");
    expect(columns(["  kernel", "1400", ""], [9, 5, 4])).toBe("  kernel   1400");
  });
});

describe("bench/proxy round ratios", () => {
  const at = (path: string, round: number, peerCpuUs: number, serverCpuUs = 0) => ({
    ...sample({ peerCpuUs, serverCpuUs }),
    path,
    round,
  });

  test("each round's CPU per datagram over the base's in the same round: min, max, median", () => {
    const steps = [
      at("direct", 0, 900_000),
      at("base", 0, 1_800_000),
      at("direct", 1, 1_200_000),
      at("base", 1, 1_500_000),
      at("direct", 2, 1_000_000, 500_000),
      at("base", 2, 1_000_000, 1_000_000),
    ];
    const r = roundRatios(steps, "direct", "base", 1400, 90_000);
    expect(r?.min).toBeCloseTo(0.5, 9);
    expect(r?.max).toBeCloseTo(0.8, 9);
    expect(r?.median).toBeCloseTo(0.75, 9);
  });

  test("rounds, sizes or rates the base lacks are left out; nothing to compare is undefined", () => {
    const steps = [at("direct", 0, 1_000_000), at("base", 1, 2_000_000), at("direct", 1, 1_000_000)];
    expect(roundRatios(steps, "direct", "base", 1400, 90_000)).toEqual({ min: 0.5, max: 0.5, median: 0.5 });
    expect(roundRatios(steps, "direct", "base", 100, 90_000)).toBeUndefined();
    expect(roundRatios(steps, "direct", "nobody", 1400, 90_000)).toBeUndefined();
  });
});

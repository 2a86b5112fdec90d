import type { HistogramSample, Labels } from "./exposition.ts";

/**
 * Observations counted into fixed buckets, as a Prometheus histogram: cumulative counts per upper bound,
 * their sum and their count. Memory is one number per bound, whatever the number of observations.
 */
export class Histogram {
  private readonly counts: number[];
  private sum = 0;
  private count = 0;

  /** @param bounds upper bounds, increasing; +Inf is implied. */
  constructor(private readonly bounds: readonly number[]) {
    for (let i = 1; i < bounds.length; i++)
      if ((bounds[i] as number) <= (bounds[i - 1] as number))
        throw new Error("histogram bounds must increase");
    this.counts = bounds.map(() => 0);
  }

  observe(value: number): void {
    this.sum += value;
    this.count++;
    // The first bound the value fits under; the cumulative counts are summed when read.
    const i = this.bounds.findIndex((b) => value <= b);
    if (i >= 0) this.counts[i] = (this.counts[i] as number) + 1;
  }

  sample(labels?: Labels): HistogramSample {
    let running = 0;
    const buckets = this.bounds.map((le, i) => {
      running += this.counts[i] as number;
      return [le, running] as const;
    });
    return { ...(labels ? { labels } : {}), buckets, sum: this.sum, count: this.count };
  }
}

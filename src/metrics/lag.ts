import { type Clock, systemClock } from "../sys/clock.ts";

/**
 * @default 500 ms: how often the lag is sampled. Often enough that a stall of a second shows in a 15 s
 * scrape interval many times over; rare enough that the timer itself costs nothing measurable.
 */
export const LAG_SAMPLE_MS = 500;
/** @default 20 samples: the window the maximum covers, 10 s at LAG_SAMPLE_MS, under a 15 s scrape interval. */
export const LAG_WINDOW = 20;

/**
 * Event-loop lag: how late a timer armed for LAG_SAMPLE_MS fires. A server whose loop is busy (a store
 * that answers slowly is not that; a CPU-bound turn is) answers every peer that late too.
 */
export class LagMeter {
  private readonly samples: number[] = [];
  private cancel: () => void = () => {};
  private stopped = false;

  constructor(private readonly clock: Clock = systemClock) {}

  start(): this {
    const arm = () => {
      const armedAt = this.clock.now();
      // unref: the meter alone never keeps the process alive.
      this.cancel = this.clock.setTimer(
        LAG_SAMPLE_MS,
        () => {
          if (this.stopped) return;
          this.record(Math.max(0, this.clock.now() - armedAt - LAG_SAMPLE_MS));
          arm();
        },
        { unref: true },
      );
    };
    arm();
    return this;
  }

  /** One sample in milliseconds (what a tick measured). */
  record(ms: number): void {
    this.samples.push(ms);
    if (this.samples.length > LAG_WINDOW) this.samples.shift();
  }

  /** The latest sample and the largest of the window, in seconds; 0 before the first. */
  read(): { lastSeconds: number; maxSeconds: number } {
    const last = this.samples.at(-1) ?? 0;
    return { lastSeconds: last / 1000, maxSeconds: Math.max(0, ...this.samples) / 1000 };
  }

  stop(): void {
    this.stopped = true;
    this.cancel();
  }
}

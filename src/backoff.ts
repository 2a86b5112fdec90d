/**
 * The one retransmission schedule: the first retry `firstMs` after a send, each wait `factor` times the last
 * (1: a fixed interval), never longer than `maxMs`, at most `maxTries` sends in all. Pure: the time comes in.
 * @example
 * const b = new Backoff({ firstMs: 250, factor: 2, maxMs: 2_000, maxTries: Infinity });
 * b.sent(0); // 250: the next send is due then
 * b.due(250); // true
 */
export interface BackoffSchedule {
  firstMs: number;
  factor: number;
  maxMs: number;
  maxTries: number;
}

/** The wait after one of `waitMs`, on `s`. */
export const grow = (s: BackoffSchedule, waitMs: number): number => Math.min(waitMs * s.factor, s.maxMs);

export class Backoff {
  private waitMs: number;
  private count = 0;
  /** When the next send is due; Infinity once every try is spent. 0 before the first: due at once. */
  nextAt = 0;

  constructor(readonly schedule: BackoffSchedule) {
    this.waitMs = schedule.firstMs;
  }

  /** Sends so far. */
  get tries(): number {
    return this.count;
  }

  /** Whether a send is due at `now` (and one is left). */
  due(now: number): boolean {
    return this.count < this.schedule.maxTries && now >= this.nextAt;
  }

  /** A send at `now`: returns when the next is due (Infinity when that was the last try). */
  sent(now: number): number {
    this.count++;
    this.nextAt = this.count < this.schedule.maxTries ? now + this.waitMs : Number.POSITIVE_INFINITY;
    this.waitMs = grow(this.schedule, this.waitMs);
    return this.nextAt;
  }

  /** Makes the next send due at once, keeping the count and the wait (an answer asks for a reply now). */
  now(): void {
    if (this.count < this.schedule.maxTries) this.nextAt = 0;
  }
}

/**
 * Drops replays: a packet must carry a timestamp within `windowMs` of our clock and a nonce not seen in that
 * window. Memory is bounded: past `maxEntries`, the oldest entries are evicted and a floor rises to their
 * timestamp, so an evicted nonce can never be accepted again (anything at or below the floor is refused).
 */
export type ReplayVerdict = "ok" | "replay" | "stale";

export interface ReplayGuardOptions {
  /** @default 120_000: peers' clocks are rarely NTP-perfect; two minutes tolerates sloppy edge boxes. */
  windowMs?: number;
  /** @default 65_536 nonces (about 3 MB), far above the rate honest peers send at. */
  maxEntries?: number;
}

export class ReplayGuard {
  private readonly seen = new Map<string, number>();
  private floor = Number.NEGATIVE_INFINITY;
  private lastPrune = 0;
  readonly windowMs: number;
  private readonly maxEntries: number;

  constructor(opts: ReplayGuardOptions = {}) {
    this.windowMs = opts.windowMs ?? 120_000;
    this.maxEntries = opts.maxEntries ?? 65_536;
  }

  check(nonce: string, timestamp: number, now: number): ReplayVerdict {
    if (Math.abs(timestamp - now) > this.windowMs || timestamp <= this.floor) return "stale";
    if (this.seen.has(nonce)) return "replay";
    this.prune(now);
    this.seen.set(nonce, timestamp);
    while (this.seen.size > this.maxEntries) {
      const [oldest, ts] = this.seen.entries().next().value as [string, number];
      this.seen.delete(oldest);
      this.floor = Math.max(this.floor, ts);
    }
    return "ok";
  }

  get size(): number {
    return this.seen.size;
  }

  /** Entries older than the window would be refused as stale anyway; forget them at most once a second. */
  private prune(now: number): void {
    if (now - this.lastPrune < 1000) return;
    this.lastPrune = now;
    for (const [nonce, ts] of this.seen) if (ts < now - this.windowMs) this.seen.delete(nonce);
  }
}

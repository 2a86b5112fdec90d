/**
 * How packets that fail authentication are logged. Anyone can send them, with any source address, so the
 * log must stay small under a forged flood, yet still name a real peer with the wrong secret.
 */
export const AUTH_LOG = {
  /** Named-address lines per minute at most: a forged flood must not flood the log. */
  linesPerMinute: 10,
  /** The bucket's size: a burst of this many lines, e.g. a few peers restarted with an old secret. */
  burst: 10,
  /** One line per address this often: a misconfigured peer retries every second or so. */
  perAddressMs: 5 * 60_000,
  /** Unlogged failures are summed up in one line this often, so none is lost without a word. */
  summaryMs: 60_000,
  /**
   * The newest addresses that found the bucket empty, named when it refills. Newest first: after a flood,
   * the address that comes next is the one an operator is looking for.
   */
  pending: 10,
  /** Distinct addresses counted per summary; beyond this the summary says "or more" (bounded memory). */
  distinctMax: 10_000,
} as const;

export type AuthLogConfig = { readonly [K in keyof typeof AUTH_LOG]: number };

/**
 * Rate-limited reporting of authentication failures. Pure: the time is passed in, lines are returned.
 * Guarantees: at most `burst` + `linesPerMinute` per minute lines naming addresses, plus one summary per
 * `summaryMs`; an address is named at most once per `perAddressMs`; a failure that finds the bucket empty
 * is counted in the summary and, if among the `pending` newest, named once the bucket refills. Limit: during
 * an ongoing flood of forged addresses a real one is named only if it is among the newest at a refill;
 * the summary still counts it.
 */
export class AuthFailureLog {
  private tokens: number;
  private refilledAt: number;
  /** Address -> when it was last named; pruned after perAddressMs, so bounded by the bucket's rate. */
  private readonly namedAt = new Map<string, number>();
  /** Address -> its unlogged packets; Map order is age, newest last. */
  private readonly pending = new Map<string, number>();
  private windowStart = 0;
  private unlogged = 0;
  private readonly distinct = new Set<string>();
  private distinctOverflow = false;

  constructor(
    now: number,
    private readonly cfg: AuthLogConfig = AUTH_LOG,
  ) {
    this.tokens = cfg.burst;
    this.refilledAt = now;
  }

  /** A packet from `addr` failed authentication at `now`: the lines to log now (maybe none). */
  failed(addr: string, now: number): string[] {
    this.refill(now);
    const last = this.namedAt.get(addr);
    // The live failure goes before the pending ones: it is the newest.
    if ((last === undefined || now - last >= this.cfg.perAddressMs) && this.tokens >= 1) {
      this.tokens--;
      this.name(addr, now);
      return [
        `dropped a packet from ${addr} that failed authentication (a different secret?)`,
        ...this.tick(now),
      ];
    }
    if (this.unlogged === 0) this.windowStart = now;
    this.unlogged++;
    if (this.distinct.size < this.cfg.distinctMax) this.distinct.add(addr);
    else if (!this.distinct.has(addr)) this.distinctOverflow = true;
    if (last === undefined || now - last >= this.cfg.perAddressMs) {
      const n = this.pending.get(addr) ?? 0;
      this.pending.delete(addr); // re-inserted as the newest
      this.pending.set(addr, n + 1);
      if (this.pending.size > this.cfg.pending) {
        const oldest = this.pending.keys().next().value;
        if (oldest !== undefined) this.pending.delete(oldest);
      }
    }
    return this.tick(now);
  }

  /** Call every few seconds while `idle()` is false: names pending addresses, and emits the summary when due. */
  tick(now: number): string[] {
    const out: string[] = [];
    this.refill(now);
    for (const [addr, at] of this.namedAt) {
      if (now - at < this.cfg.perAddressMs) break; // oldest first: the rest are newer
      this.namedAt.delete(addr);
    }
    while (this.tokens >= 1 && this.pending.size > 0) {
      const [addr, n] = [...this.pending].at(-1) as [string, number];
      this.pending.delete(addr);
      this.tokens--;
      this.name(addr, now);
      this.unlogged -= n;
      this.distinct.delete(addr);
      out.push(
        `dropped ${n === 1 ? "a packet" : `${n} packets`} from ${addr} that failed authentication (a different secret?)`,
      );
    }
    if (this.unlogged > 0 && now - this.windowStart >= this.cfg.summaryMs) {
      const addrs = `${this.distinct.size}${this.distinctOverflow ? " or more" : ""}`;
      const mins = Math.round((now - this.windowStart) / 60_000);
      out.push(
        `${this.unlogged} more ${this.unlogged === 1 ? "packet" : "packets"} from ${addrs} ${this.distinct.size === 1 && !this.distinctOverflow ? "address" : "addresses"} failed authentication in the last ${mins <= 1 ? "minute" : `${mins} minutes`} (not logged one by one)`,
      );
      this.unlogged = 0;
      this.distinct.clear();
      this.distinctOverflow = false;
    }
    if (this.unlogged <= 0) this.unlogged = 0;
    return out;
  }

  /** Nothing left to name or sum up: the caller may stop ticking. */
  idle(): boolean {
    return this.unlogged === 0 && this.pending.size === 0;
  }

  private refill(now: number): void {
    const earned = (Math.max(0, now - this.refilledAt) * this.cfg.linesPerMinute) / 60_000;
    this.tokens = Math.min(this.cfg.burst, this.tokens + earned);
    this.refilledAt = Math.max(now, this.refilledAt);
  }

  private name(addr: string, now: number): void {
    this.namedAt.delete(addr); // re-inserted as the newest, keeping the map in time order
    this.namedAt.set(addr, now);
  }
}

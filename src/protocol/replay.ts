/**
 * Drops replays. A packet must carry a timestamp within `windowMs` of our clock (both sides seal in the
 * rendezvous server's time, so the window can be tight) and a nonce not seen before.
 *
 * Nonces are kept in generations by ARRIVAL time, each `windowMs` long, three of them: a nonce accepted at
 * time A carries a timestamp of at most A + windowMs, which is refused as stale from A + 2 * windowMs on, and
 * the generation holding it is only forgotten after A + 2 * windowMs. So nothing is forgotten while it could
 * still be accepted, and no timestamp, however far ahead, moves any bound for other senders. Work per packet
 * is O(1); memory is bounded by `maxEntries`. At that bound new packets are refused ("overload") rather than
 * old nonces forgotten; the bound is set above what the server can process in three windows.
 */
export type ReplayVerdict = "ok" | "replay" | "stale" | "overload";

export interface ReplayGuardOptions {
  /**
   * @default 10_000: peers seal in the server's time (learned from REGISTERED, refreshed every keepalive),
   * so honest timestamps are off by about half an RTT; 10 s leaves room for slow links and late datagrams.
   */
  windowMs?: number;
  /**
   * @default 1_048_576 nonces (about 100 MB at worst): three 10 s generations of 35k packets/s, more than the
   * server processes (its ceiling is under 40k authenticated packets/s on one core).
   */
  maxEntries?: number;
}

export const DEFAULT_REPLAY_WINDOW_MS = 10_000;

/**
 * What the channels need of the replay memory: one check per authenticated packet, which remembers the
 * nonce when it says "ok". ReplayGuard is the in-memory one; servers sharing a store can share one too.
 */
export interface ReplayWindow {
  check(nonce: string, timestamp: number, now: number): ReplayVerdict;
  readonly windowMs: number;
}
const GENERATIONS = 3;

export class ReplayGuard implements ReplayWindow {
  private gens: Set<string>[] = Array.from({ length: GENERATIONS }, () => new Set<string>());
  private genStart = Number.NEGATIVE_INFINITY;
  readonly windowMs: number;
  private readonly maxEntries: number;

  constructor(opts: ReplayGuardOptions = {}) {
    this.windowMs = opts.windowMs ?? DEFAULT_REPLAY_WINDOW_MS;
    this.maxEntries = opts.maxEntries ?? 1_048_576;
  }

  check(nonce: string, timestamp: number, now: number): ReplayVerdict {
    if (Math.abs(timestamp - now) > this.windowMs) return "stale";
    this.rotate(now);
    for (const g of this.gens) if (g.has(nonce)) return "replay";
    if (this.size >= this.maxEntries) return "overload";
    this.gens[0]?.add(nonce);
    return "ok";
  }

  get size(): number {
    let n = 0;
    for (const g of this.gens) n += g.size;
    return n;
  }

  private rotate(now: number): void {
    if (now - this.genStart < this.windowMs) return;
    // More than a whole generation passed: start afresh from `now` (everything older is stale by now).
    const steps = Math.min(GENERATIONS, Math.floor((now - this.genStart) / this.windowMs));
    for (let i = 0; i < steps; i++) {
      this.gens.pop();
      this.gens.unshift(new Set<string>());
    }
    this.genStart = steps >= GENERATIONS ? now : this.genStart + steps * this.windowMs;
  }
}

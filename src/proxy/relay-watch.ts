/**
 * Whether our binding at the relay still works, pure (the time comes in): PINGs of our pair through the relay
 * (the partner answers each with a PONG the relay forwards back), every second while the relay carries the
 * tunnel, every `idleMs` while it waits as the fallback; a few unanswered in a row mean the relay no longer
 * forwards for us (our NAT gave us a new port, which the relay has not bound) and the driver binds again.
 */
export interface RelayWatchTimings {
  /** @default 1_000: the gap while the relay carries the tunnel (as the direct path's, paths.ts aliveMs). */
  inUseMs: number;
  /**
   * @default 15_000: the gap while unused: keeps the relay's session (60 s without traffic from a side
   * closes it) and our NAT's mapping to it (30 s) alive, with room for a lost one.
   */
  idleMs: number;
  /** @default 1_000: unanswered this long is a miss; the next probes then go `inUseMs` apart. */
  answerMs: number;
  /**
   * @default 3 misses in a row: lost. Unused, that is about 18 s after the last answer, before the relay
   * closes a session silent from our side for 60 s.
   */
  lostAfter: number;
}

export const DEFAULT_RELAY_WATCH: RelayWatchTimings = {
  inUseMs: 1_000,
  idleMs: 15_000,
  answerMs: 1_000,
  lostAfter: 3,
};

/** The relay's PINGs are numbered from here, apart from the direct path's (paths.ts counts from 0). */
export const RELAY_SEQ_BASE = 0x8000_0000;
const MAX_U32 = 0xffff_ffff;

export class RelayWatch {
  readonly t: RelayWatchTimings;
  private readonly outstanding = new Map<number, number>();
  private seq = RELAY_SEQ_BASE;
  private lastProbeAt: number;
  /** Probes unanswered in a row. */
  misses = 0;

  /** `now`: when the relay last proved itself (bound, or the punch's PONG through it). */
  constructor(now: number, timings: Partial<RelayWatchTimings> = {}) {
    this.t = { ...DEFAULT_RELAY_WATCH, ...timings };
    this.lastProbeAt = now;
  }

  get lost(): boolean {
    return this.misses >= this.t.lostAfter;
  }

  /** Every inUseMs while in use or after a miss; every idleMs while unused, or once lost (rebinding is the
   * driver's business then, and a relay that is gone is not worth a probe a second). */
  nextProbeAt(inUse: boolean): number {
    const fast = !this.lost && (inUse || this.misses > 0);
    return this.lastProbeAt + (fast ? this.t.inUseMs : this.t.idleMs);
  }

  probeSent(now: number): number {
    this.lastProbeAt = now;
    const seq = this.seq;
    this.seq = this.seq >= MAX_U32 ? RELAY_SEQ_BASE : this.seq + 1;
    this.outstanding.set(seq, now);
    return seq;
  }

  /** A PONG through the relay; false when it answers no probe still out. */
  answered(seq: number): boolean {
    if (!this.outstanding.delete(seq)) return false;
    this.misses = 0;
    return true;
  }

  /** The relay proved itself another way (bound again): no misses. */
  reset(now: number): void {
    this.outstanding.clear();
    this.misses = 0;
    this.lastProbeAt = now;
  }

  /** Counts the misses due by `now`. */
  step(now: number): void {
    for (const [seq, sentAt] of this.outstanding) {
      if (now - sentAt < this.t.answerMs) continue;
      this.outstanding.delete(seq);
      this.misses++;
    }
  }

  wakeAt(inUse: boolean): number {
    let at = this.nextProbeAt(inUse);
    for (const sentAt of this.outstanding.values()) at = Math.min(at, sentAt + this.t.answerMs);
    return at;
  }
}

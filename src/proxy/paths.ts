/**
 * Proxy mode's choice between the direct path and the server's relay, pure (the time comes in with every
 * call): when to probe the direct path, when a direct path is proven enough to move to, when it is dead and
 * the relay takes over again, and how long a direct path that failed waits before it may be taken again.
 * The driver (driver.ts) sends the probes (PINGs of our pair) and reports their answers (PONGs).
 *
 * One word, one concept: `betterPath` (punch/path.ts) ranks paths the punch proved; `choosePath` here decides
 * whether the running proxy switches, with hysteresis.
 */
export type ProxyPath = "direct" | "relay";

export interface PathTimings {
  /**
   * @default 500: the first gap between probe rounds of a direct path not (or no longer) proven. A path a
   * firewall rule or a NAT was blocking opens at any moment; half a second finds it soon after.
   */
  probeMs: number;
  /**
   * @default 15_000: the gap grows 1.5x per round up to this, bounding the rate of probes nobody answers
   * (at most MAX_TARGETS datagrams of 62 bytes per 15 s) while a later change of the network is still found.
   */
  probeMaxMs: number;
  /** @default 200: once a probe was answered, the next ones follow quickly, so a proven path is taken soon. */
  confirmMs: number;
  /**
   * @default 3 answered probes in a row: one lucky answer through a flaky path is not a path. At 200 ms
   * apart the move comes about half a second after the first answer.
   */
  upgradeAfter: number;
  /**
   * @default 1_000: no answer within this long counts as a miss (ends the streak). An RTT above it is a
   * path worse than most relays.
   */
  answerMs: number;
  /**
   * @default 1_000: the gap between probes on the direct path in use: its death is noticed within seconds,
   * for one PING and one PONG of 62 bytes a second each way.
   */
  aliveMs: number;
  /** @default 200: the gap once a probe on the direct path in use went unanswered, to tell loss from death. */
  suspectMs: number;
  /**
   * @default 3_000 and `lostAfter` 8: the direct path in use is dead when nothing answered for this long and
   * at least 8 probes in a row went unanswered. At 20% loss each way a round trip fails 36% of the time;
   * eight in a row, 0.03%: loss alone does not move the tunnel, while a dead path is left about 3 s after
   * its last answer.
   */
  deadAfterMs: number;
  lostAfter: number;
  /**
   * @default 10_000: after a fallback the direct path is not taken again for this long, doubled per fallback
   * up to `holdMaxMs` (300_000): a path that dies and comes back every few seconds does not drag the tunnel
   * back and forth (each move may lose a datagram or two).
   */
  holdMs: number;
  holdMaxMs: number;
  /** @default 60_000: a direct path in use this long forgets earlier fallbacks (the hold starts over). */
  stableMs: number;
}

export const DEFAULT_PATH_TIMINGS: PathTimings = {
  probeMs: 500,
  probeMaxMs: 15_000,
  confirmMs: 200,
  upgradeAfter: 3,
  answerMs: 1_000,
  aliveMs: 1_000,
  suspectMs: 200,
  deadAfterMs: 3_000,
  lostAfter: 8,
  holdMs: 10_000,
  holdMaxMs: 300_000,
  stableMs: 60_000,
};

/** What the decision looks at: the path in use and what the probes of the direct path have shown. */
export interface PathView {
  current: ProxyPath;
  /** The relay is bound on both sides: there is somewhere to fall back to. */
  relayReady: boolean;
  /** Answered probes of the direct path in a row (a miss sets it to 0). */
  streak: number;
  /** Probes of the direct path unanswered in a row since the last answer. */
  unanswered: number;
  /** When a probe of the direct path was last answered; undefined: never. */
  lastAnswerAt: number | undefined;
  /** When the proxy last switched (or started). */
  since: number;
  /** Before this the direct path may not be taken (a fallback's hold). */
  holdUntil: number;
}

export interface PathSwitch {
  to: ProxyPath;
  reason: string;
}

/**
 * Whether to switch, and why: to direct once it answered `upgradeAfter` probes in a row and no hold is on;
 * back to the relay at once when the direct path in use is dead (and the relay is ready). Undefined: stay.
 */
export function choosePath(
  v: PathView,
  now: number,
  t: PathTimings = DEFAULT_PATH_TIMINGS,
): PathSwitch | undefined {
  if (v.current === "relay") {
    if (v.streak >= t.upgradeAfter && now >= v.holdUntil)
      return { to: "direct", reason: `${v.streak} probes answered in a row` };
    return undefined;
  }
  const silentMs = now - (v.lastAnswerAt ?? v.since);
  if (v.relayReady && v.unanswered >= t.lostAfter && silentMs >= t.deadAfterMs)
    return { to: "relay", reason: `no answer on the direct path for ${Math.round(silentMs / 1000)} s` };
  return undefined;
}

/** A switch the chooser made, kept for status. */
export interface SwitchRecord extends PathSwitch {
  at: number;
}

/**
 * The direct path's probes and the switches, as one pure state machine around choosePath: the driver asks
 * when the next probe is due (`nextProbeAt`), reports it (`probeSent`) and its answer (`answered`), and calls
 * `step(now)` at `wakeAt()` and after each report; `step` returns a switch when one happens.
 */
export class PathChooser {
  readonly t: PathTimings;
  private v: PathView;
  /** Probes out and not yet answered or missed: seq -> sent at. Few: answerMs / confirmMs. */
  private readonly outstanding = new Map<number, number>();
  private seq = 0;
  private lastProbeAt: number | undefined;
  /** The gap of the unproven path's probe rounds, growing 1.5x per round. */
  private searchGap: number;
  private fallbacks = 0;
  /** The partner's probe reached us since our last probe (nudge). */
  private nudged = false;
  switches = 0;
  last: SwitchRecord | undefined;

  constructor(start: ProxyPath, relayReady: boolean, now: number, timings: Partial<PathTimings> = {}) {
    this.t = { ...DEFAULT_PATH_TIMINGS, ...timings };
    this.searchGap = this.t.probeMs;
    this.v = {
      current: start,
      relayReady,
      streak: 0,
      unanswered: 0,
      // Starting on a direct path the punch just proved: it counts as answered now.
      lastAnswerAt: start === "direct" ? now : undefined,
      since: now,
      holdUntil: now,
    };
  }

  get current(): ProxyPath {
    return this.v.current;
  }
  get relayReady(): boolean {
    return this.v.relayReady;
  }
  /** The view choosePath decides on (a copy). */
  get view(): Readonly<PathView> {
    return { ...this.v };
  }
  /** Whether the direct path is in use and answering: probes then go to its one address only. */
  get directAlive(): boolean {
    return this.v.current === "direct" && this.v.unanswered < this.t.lostAfter;
  }

  /** The relay became ready (both peers bound), or was lost. */
  setRelayReady(ready: boolean): void {
    this.v.relayReady = ready;
  }

  /** When the next probe of the direct path is due. */
  nextProbeAt(): number {
    if (this.lastProbeAt === undefined) return this.v.since;
    const due = this.lastProbeAt + this.gap();
    // Nudged: soon, but never closer than confirmMs to the last probe, so two sides nudging each other
    // cannot drive their probes faster than that.
    return this.nudged ? Math.min(due, this.lastProbeAt + this.t.confirmMs) : due;
  }

  private gap(): number {
    if (this.searching()) return this.searchGap;
    const { current, unanswered, streak } = this.v;
    if (current === "direct") return unanswered === 0 ? this.t.aliveMs : this.t.suspectMs;
    // Proven but held after a fallback: keep it warm at the rate of a path in use, no faster.
    return streak >= this.t.upgradeAfter ? this.t.aliveMs : this.t.confirmMs;
  }

  /**
   * Whether the direct path is being looked for (nothing answers): on the relay with no answer in a row, or
   * on a dead direct path with no relay to go to. Its probe rounds then grow apart.
   */
  private searching(): boolean {
    const { current, unanswered, streak, relayReady } = this.v;
    if (current === "relay") return streak === 0;
    return unanswered >= this.t.lostAfter && !relayReady;
  }

  /** A probe round went out now: its sequence number (the PONG echoes it). */
  probeSent(now: number): number {
    if (this.searching() && this.lastProbeAt !== undefined)
      this.searchGap = Math.min(this.searchGap * 1.5, this.t.probeMaxMs);
    this.lastProbeAt = now;
    this.nudged = false;
    const seq = this.seq;
    this.seq = (this.seq + 1) >>> 0; // a u32 on the wire
    this.outstanding.set(seq, now);
    return seq;
  }

  /** A PONG of the direct path answered probe `seq`; false when it answers none still out (late, unknown). */
  answered(seq: number, now: number): boolean {
    if (!this.outstanding.delete(seq)) return false;
    this.v.streak++;
    this.v.unanswered = 0;
    this.v.lastAnswerAt = now;
    return true;
  }

  /**
   * The partner's probe reached us on a direct address: the path may have just opened, so probe again soon
   * (at most confirmMs after our last probe) rather than at the end of a long gap; a PONG still proves it,
   * not this. Only while the direct path is being looked for: a proven one (in use, or held after a
   * fallback) keeps its pace, else the two sides' probes would answer each other as fast as the path goes.
   */
  nudge(): void {
    if (!this.searching()) return;
    this.searchGap = this.t.probeMs;
    this.nudged = true;
  }

  /** Counts the misses due by `now`, then decides; returns the switch made, if any. */
  step(now: number): SwitchRecord | undefined {
    for (const [seq, sentAt] of this.outstanding) {
      if (now - sentAt < this.t.answerMs) continue;
      this.outstanding.delete(seq);
      this.v.streak = 0;
      this.v.unanswered++;
    }
    // A direct path that held long enough forgets the fallbacks before it.
    if (this.v.current === "direct" && now - this.v.since >= this.t.stableMs) this.fallbacks = 0;
    const sw = choosePath(this.v, now, this.t);
    if (!sw) return undefined;
    if (sw.to === "relay") {
      this.fallbacks++;
      const hold = Math.min(this.t.holdMs * 2 ** (this.fallbacks - 1), this.t.holdMaxMs);
      this.v.holdUntil = now + hold;
      // Look for the direct path again from the first gap: it may come back soon (then wait out the hold).
      this.searchGap = this.t.probeMs;
    }
    this.v.streak = 0;
    this.v.current = sw.to;
    this.v.since = now;
    return this.counted(sw, now);
  }

  /**
   * A change of the tunnel's way that is not a switch of path (the relay reached over UDP instead of the
   * WebSocket): counted with the switches, so that status shows every change a user would call one.
   */
  counted(sw: PathSwitch, now: number): SwitchRecord {
    this.switches++;
    this.last = { ...sw, at: now };
    return this.last;
  }

  /** The next time step() or a probe is due. */
  wakeAt(): number {
    let at = this.nextProbeAt();
    for (const sentAt of this.outstanding.values()) at = Math.min(at, sentAt + this.t.answerMs);
    // Proven but held (step() has switched otherwise): the hold's end.
    if (this.v.current === "relay" && this.v.streak >= this.t.upgradeAfter)
      at = Math.min(at, this.v.holdUntil);
    if (this.v.current === "direct" && this.v.relayReady && this.v.unanswered >= this.t.lostAfter)
      at = Math.min(at, (this.v.lastAnswerAt ?? this.v.since) + this.t.deadAfterMs);
    return at;
  }
}

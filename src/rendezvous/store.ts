import type { NatInfo } from "../protocol/messages.ts";
import type { Endpoint, Role } from "../types.ts";

/** A pair the server announced, remembered for a while after the session ended. */
export interface RecentPair {
  session: string;
  peers: Record<Role, string>;
  /** Where each peer was last seen, to pass it news from its partner. */
  addrs: Record<Role, Endpoint>;
}

/** One peer waiting in a session. */
export interface Registration {
  peerId: string;
  addr: Endpoint;
  candidates: Endpoint[];
  /** The peer's NAT behaviour, once it has probed (it tells the partner which strategy to use). */
  nat?: NatInfo;
  /** A port the peer's gateway forwards to it (PCP/NAT-PMP). */
  mapped?: Endpoint;
  lastSeen: number;
  /** Nonce of the last REGISTER accepted from it: its MATCH echoes it, so the MATCH is bound to that run. */
  echo: string;
  /** It never acknowledged a MATCH: not paired again until it shows it is alive with a new REGISTER. */
  unresponsive?: boolean;
  /**
   * Announced on first contact, before it proved it receives at `addr` (false): its MATCH_ACK from that
   * address proves it; until then it blocks nobody and is dropped if it never answers.
   */
  proven: boolean;
}

/** A session's state: up to one registration per role and, once both are there, the pair being announced. */
export interface SessionRecord {
  slots: Partial<Record<Role, Registration>>;
  pair?: {
    pairId: string;
    acked: Record<Role, boolean>;
    createdAt: number;
    nextRetryAt: number;
    retryDelayMs: number;
  };
}

/**
 * Where the rendezvous keeps its state. In memory by default; the protocol code only goes through this
 * interface so that a shared store (several servers behind one address) can be added without touching it.
 */
export interface RendezvousStore {
  get(session: string): SessionRecord | undefined;
  set(session: string, record: SessionRecord): void;
  delete(session: string): void;
  sessions(): Iterable<[string, SessionRecord]>;
  /** Peers that finished recently: a late duplicate REGISTER from them must not start a new session. */
  markDone(peerId: string, until: number): void;
  isDone(peerId: string, now: number): boolean;
  /** Pairs announced recently, by pair id: a relay may be asked for them after the session is gone. */
  rememberPair(pairId: string, pair: RecentPair, until: number): void;
  recentPair(pairId: string, now: number): RecentPair | undefined;
  /** Drops finished-peer marks and pair memories older than `now`. */
  sweep(now: number): void;
  readonly size: number;
}

export class MemoryStore implements RendezvousStore {
  private readonly map = new Map<string, SessionRecord>();
  private readonly done = new Map<string, number>();
  private readonly pairs = new Map<string, RecentPair & { until: number }>();

  get(session: string) {
    return this.map.get(session);
  }
  set(session: string, record: SessionRecord) {
    this.map.set(session, record);
  }
  delete(session: string) {
    this.map.delete(session);
  }
  sessions() {
    return this.map.entries();
  }
  markDone(peerId: string, until: number) {
    this.done.set(peerId, until);
  }
  isDone(peerId: string, now: number) {
    const until = this.done.get(peerId);
    return until !== undefined && until > now;
  }
  rememberPair(pairId: string, pair: RecentPair, until: number) {
    this.pairs.set(pairId, { ...pair, until });
  }
  recentPair(pairId: string, now: number) {
    const p = this.pairs.get(pairId);
    return p && p.until > now ? { session: p.session, peers: p.peers, addrs: p.addrs } : undefined;
  }
  sweep(now: number) {
    for (const [id, until] of this.done) if (until <= now) this.done.delete(id);
    for (const [id, p] of this.pairs) if (p.until <= now) this.pairs.delete(id);
  }
  get size() {
    return this.map.size;
  }
}

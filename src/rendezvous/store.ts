import type { NatInfo, Register } from "../protocol/messages.ts";
import type { Endpoint, Role } from "../types.ts";
import { DeadlineIndex } from "./deadlines.ts";

/** A pair the server announced, remembered for a while after the session ended. */
export interface RecentPair {
  session: string;
  peers: Record<Role, string>;
  /** Where each peer was last seen, to pass it news from its partner. */
  addrs: Record<Role, Endpoint>;
  /** The server that held each peer (Registration.server), which news to it must leave from. */
  servers?: Partial<Record<Role, string>>;
}

/** One peer waiting in a session. */
export interface Registration {
  peerId: string;
  addr: Endpoint;
  /** What it announced about itself: LAN addresses, a port its gateway forwards to it (PCP/NAT-PMP). */
  candidates: Register["candidates"];
  /** The peer's NAT behaviour, once it has probed (it tells the partner which strategy to use). */
  nat?: NatInfo;
  /**
   * The server that took its latest REGISTER (its id, among servers sharing a store): the only one that can
   * reach it through its NAT, so every packet to it (its MATCH, an UNMATCH) leaves from that server, which
   * also owns its MATCH retransmissions. Absent in records of a server alone (it holds every peer).
   */
  server?: string;
  /** Its hook's offer (hex, at most MAX_OFFER_LEN bytes), from its latest REGISTER: the partner's MATCH carries it. */
  offer?: string;
  /** It runs proxy mode (its latest REGISTER said so): the partner's MATCH says so, to refuse a mixed pair. */
  proxy?: true;
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
  /**
   * When the server should look at the session next: its earliest deadline (a MATCH retransmission, the pair's
   * ack timeout, a registration's expiry), written by the core with every change. The store finds sessions
   * by it (`due`), so no timer walks them all. A record without it is never due.
   */
  wakeAt?: number;
  pair?: {
    pairId: string;
    /** The server that made the pair; it retransmits the MATCH of every peer whose slot names no server. */
    owner: string;
    acked: Record<Role, boolean>;
    createdAt: number;
    /**
     * Each peer's next MATCH retransmission and the wait before the one after. Only the server holding the
     * peer (its slot's `server`, else the owner) retransmits it: one sender per peer, however many servers
     * share the store, and the one whose packets the peer's NAT lets in.
     */
    retry: Record<Role, { at: number; delayMs: number }>;
  };
}

/** What a store hands out to read: a snapshot nobody may change (it changes only through `update`). */
export type Snapshot<T> = T extends readonly (infer U)[]
  ? readonly Snapshot<U>[]
  : T extends object
    ? { readonly [K in keyof T]: Snapshot<T[K]> }
    : T;

/** Returned by an `update` function that decides to change nothing: the stored record stays, unwritten. */
export const KEEP: unique symbol = Symbol("keep");

/** What an `update` function decides: the new record, undefined to delete the session, or KEEP. */
export type SessionChange = SessionRecord | undefined | typeof KEEP;

/**
 * Where the rendezvous keeps its state. In memory by default (MemoryStore); several servers behind one
 * address share one (a later Redis store), so every operation is a method such a store can implement, and
 * the core reads and writes nothing else.
 *
 * Atomic: `update` of one session (a read-modify-write nobody interleaves with). Everything else is a
 * single read or write of its own and may be stale by the time the caller acts on it: the core re-checks
 * what matters inside `update`, and the limits read through `count`/`addressCount` are soft (servers
 * racing may overshoot them by the registrations in flight).
 *
 * Every implementation must pass `describeStoreContract` (`test/unit/rendezvous/store-contract.ts`), given its factory.
 */
export interface RendezvousStore {
  /** A snapshot of the session's record, or undefined: not changed by later updates, possibly stale. */
  get(session: string): Promise<Snapshot<SessionRecord> | undefined>;
  /**
   * Changes one session atomically: `fn` gets a copy of the current record (undefined if there is none),
   * which it may change, and returns the record to write, undefined to delete the session, or KEEP. No other
   * update of the same session runs between the read `fn` is given and the write. Resolves with the record
   * as stored afterwards; the store keeps its own copy, so changing the returned record later changes
   * nothing. If `fn` throws, nothing is written and update rejects with its error. `fn` may run more than
   * once (a store that retries on a conflict, as Redis WATCH/MULTI does); only its last run counts, so it
   * must have no effect but its result.
   */
  update(
    session: string,
    fn: (current: SessionRecord | undefined) => SessionChange,
  ): Promise<Snapshot<SessionRecord> | undefined>;
  /** Every session with a snapshot of its record (for tools and tests: the server reads `due`); may be stale. */
  sessions(): Promise<[string, Snapshot<SessionRecord>][]>;
  /**
   * The sessions whose record's `wakeAt` is not later than `now`, in no particular order: what the server's
   * tick looks at (e.g. a Redis sorted set by `wakeAt`, ZRANGEBYSCORE). May be stale: the caller re-checks
   * each inside `update`.
   */
  due(now: number): Promise<string[]>;
  /** How many sessions exist (the server's session limit); may be stale. */
  count(): Promise<number>;
  /**
   * How many registrations (slots, of any session) are from IP address `host`, exactly as written in their
   * `addr.host`: the per-address limit. The store keeps it from the records `update` writes; may be stale.
   */
  addressCount(host: string): Promise<number>;
  /**
   * Peers that finished recently: a late duplicate REGISTER from them must not start a new session. A later
   * mark of the same peer replaces its `until`.
   */
  markDone(peerId: string, until: number): Promise<void>;
  /** True if `peerId` was marked done with an `until` later than `now`. */
  isDone(peerId: string, now: number): Promise<boolean>;
  /** Pairs announced recently, by pair id: a relay may be asked for them after the session is gone. */
  rememberPair(pairId: string, pair: RecentPair, until: number): Promise<void>;
  /** The pair remembered under `pairId` with an `until` later than `now`, as a snapshot. */
  recentPair(pairId: string, now: number): Promise<Snapshot<RecentPair> | undefined>;
  /**
   * Frees finished-peer marks and pair memories whose `until` is not later than `now` (they are not
   * returned anyway), at a cost of what it frees, not of what it holds: the server calls it every tick. A
   * store that expires keys by itself may do nothing.
   */
  sweep(now: number): Promise<void>;
}

// Records are plain data (objects, arrays, strings, numbers, booleans: what JSON holds, so a shared store can
// serialise them), so a loop copies them: a tenth of structuredClone's cost, on every update.

/** A deep copy of plain data, for an `update` function to change. */
function copyOf<T>(value: T): T {
  if (typeof value !== "object" || value === null) return value;
  if (Array.isArray(value)) return value.map(copyOf) as T;
  const out: Record<string, unknown> = {};
  for (const k in value) out[k] = copyOf(value[k]);
  return out as T;
}

/** One frozen empty array for every empty list kept (most peers' candidates): 80 bytes less per session. */
const EMPTY: readonly never[] = Object.freeze([]);

/**
 * A deep-frozen copy of plain data: what the store keeps can then be handed out as a snapshot, uncopied.
 * A property whose value is undefined is left out (JSON would drop it too): a key less in every record.
 */
function frozenCopy<T>(value: T): Snapshot<T> {
  if (typeof value !== "object" || value === null) return value as Snapshot<T>;
  if (Array.isArray(value))
    return (value.length === 0 ? EMPTY : Object.freeze(value.map(frozenCopy))) as Snapshot<T>;
  const out: Record<string, unknown> = {};
  for (const k in value) if (value[k] !== undefined) out[k] = frozenCopy(value[k]);
  return Object.freeze(out) as Snapshot<T>;
}

const hostsOf = (rec: Snapshot<SessionRecord> | undefined): string[] =>
  rec ? [rec.slots.a?.addr.host, rec.slots.b?.addr.host].flatMap((h) => (h === undefined ? [] : [h])) : [];

/**
 * The default store, in this process's memory. Its operations complete without waiting for anything, so
 * `update` is atomic as it stands (nothing can run between its read and its write). It keeps frozen
 * copies, so a snapshot it handed out never changes and costs no copy. Deadline indexes find what is due
 * (`due`, `sweep`) without walking everything.
 */
export class MemoryStore implements RendezvousStore {
  private readonly map = new Map<string, Snapshot<SessionRecord>>();
  private readonly perHost = new Map<string, number>();
  private readonly done = new Map<string, number>();
  private readonly pairs = new Map<string, { pair: Snapshot<RecentPair>; until: number }>();
  private readonly wakes = new DeadlineIndex((s) => this.map.get(s)?.wakeAt);
  private readonly doneUntil = new DeadlineIndex((id) => this.done.get(id));
  private readonly pairsUntil = new DeadlineIndex((id) => this.pairs.get(id)?.until);

  async get(session: string): Promise<Snapshot<SessionRecord> | undefined> {
    return this.map.get(session);
  }
  async update(
    session: string,
    fn: (current: SessionRecord | undefined) => SessionChange,
  ): Promise<Snapshot<SessionRecord> | undefined> {
    const before = this.map.get(session);
    const next = fn(before === undefined ? undefined : copyOf(before as SessionRecord));
    if (next === KEEP) return before;
    const after = next === undefined ? undefined : frozenCopy(next);
    if (after) this.map.set(session, after);
    else this.map.delete(session);
    this.wakes.move(session, before?.wakeAt, after?.wakeAt);
    for (const h of hostsOf(before)) this.countHost(h, -1);
    for (const h of hostsOf(after)) this.countHost(h, +1);
    return after;
  }
  async sessions(): Promise<[string, Snapshot<SessionRecord>][]> {
    return [...this.map.entries()];
  }
  async due(now: number): Promise<string[]> {
    return this.wakes.due(now);
  }
  async count(): Promise<number> {
    return this.map.size;
  }
  async addressCount(host: string): Promise<number> {
    return this.perHost.get(host) ?? 0;
  }
  async markDone(peerId: string, until: number): Promise<void> {
    this.doneUntil.move(peerId, this.done.get(peerId), until);
    this.done.set(peerId, until);
  }
  async isDone(peerId: string, now: number): Promise<boolean> {
    const until = this.done.get(peerId);
    return until !== undefined && until > now;
  }
  async rememberPair(pairId: string, pair: RecentPair, until: number): Promise<void> {
    this.pairsUntil.move(pairId, this.pairs.get(pairId)?.until, until);
    this.pairs.set(pairId, { pair: frozenCopy(pair), until });
  }
  async recentPair(pairId: string, now: number): Promise<Snapshot<RecentPair> | undefined> {
    const p = this.pairs.get(pairId);
    return p && p.until > now ? p.pair : undefined;
  }
  async sweep(now: number): Promise<void> {
    for (const id of this.doneUntil.due(now)) {
      this.doneUntil.move(id, this.done.get(id), undefined);
      this.done.delete(id);
    }
    for (const id of this.pairsUntil.due(now)) {
      this.pairsUntil.move(id, this.pairs.get(id)?.until, undefined);
      this.pairs.delete(id);
    }
  }

  private countHost(host: string, by: number): void {
    const n = (this.perHost.get(host) ?? 0) + by;
    if (n > 0) this.perHost.set(host, n);
    else this.perHost.delete(host);
  }
}

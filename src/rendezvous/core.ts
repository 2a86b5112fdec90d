import { normalizeHost, sameEndpoint } from "../addr.ts";
import { type BackoffSchedule, grow } from "../backoff.ts";
import type {
  Leave,
  Match,
  MatchAck,
  Message,
  NatInfo,
  NatUpdate,
  Register,
  RegisterStatus,
  RelayRequest,
} from "../protocol/messages.ts";
import type { Frame } from "../protocol/packet.ts";
import type { Endpoint, NetpunchEvent, Role } from "../types.ts";
import { checkCookie, makeCookie } from "./cookie.ts";
import { SessionQueue } from "./session-queue.ts";
import {
  KEEP,
  type RecentPair,
  type Registration,
  type RendezvousStore,
  type SessionChange,
  type SessionRecord,
  type Snapshot,
} from "./store.ts";

export interface RendezvousTimings {
  /** @default 45_000: three missed 15 s keepalives; Linux conntrack forgets unreplied UDP after 30 s anyway. */
  registrationTtlMs: number;
  /**
   * @default 20_000: a live registration is not taken over by another peer id (squatting) until its holder
   * has been silent this long: one missed 15 s keepalive plus 5 s for its retries.
   */
  holdMs: number;
  /**
   * @default 5_000: a registration on probation that is not part of a pair is dropped this long after it
   * came, unless it proved itself: an honest peer answers its challenge within one round trip.
   */
  probationMs: number;
  /** @default 200: first MATCH retransmission; doubles up to matchRetryMaxMs. */
  matchRetryMs: number;
  /** @default 2_000 */
  matchRetryMaxMs: number;
  /**
   * @default 6_000: a peer that has not acknowledged its MATCH by then (six MATCHes sent) is gone or lost its
   * mapping: its partner is sent back to waiting (UNMATCH) instead of punching a corpse.
   */
  ackTimeoutMs: number;
  /** @default 60_000: how long a finished peer's id is remembered, to ignore its late duplicates. */
  doneMemoryMs: number;
}

export const DEFAULT_TIMINGS: RendezvousTimings = {
  registrationTtlMs: 45_000,
  holdMs: 20_000,
  probationMs: 5_000,
  matchRetryMs: 200,
  matchRetryMaxMs: 2_000,
  ackTimeoutMs: 6_000,
  doneMemoryMs: 60_000,
};

export interface RendezvousLimits {
  /**
   * @default 100_000 sessions (about 3 KB each at worst, 0.4 KB more per offer held): an insider cannot
   * exhaust the server's memory.
   */
  maxSessions: number;
  /** @default 256 registrations from one IP address: a carrier-grade NAT puts many customers behind one. */
  maxPerAddress: number;
}

export const DEFAULT_LIMITS: RendezvousLimits = { maxSessions: 100_000, maxPerAddress: 256 };

export type ServerAction =
  /**
   * `via`: the server holding the peer `to` is another one (its id): the packet must leave from there, the
   * only server the peer's NAT lets in, so the driver hands it over (a ServerBus).
   */
  | { kind: "send"; to: Endpoint; msg: Message; via?: string }
  /** Server `server` holds peer `role` of the pair: it must send that peer its MATCH (built there, with its cookie). */
  | { kind: "notify"; server: string; session: string; role: Role; pairId: string }
  | { kind: "event"; event: NetpunchEvent }
  /** Peer `peerId` of a known pair asks for a relay; the driver owns sockets, so it allocates and answers. */
  | { kind: "relay"; pairId: string; peers: Record<Role, string>; peerId: string; reply: Endpoint };

const ROLES: readonly Role[] = ["a", "b"];
/** UNMATCH is not acknowledged: three copies, so that at 20% loss it is lost 0.8% of the time. */
const UNMATCH_COPIES = 3;
const other = (r: Role): Role => (r === "a" ? "b" : "a");

export interface CoreOptions {
  store: RendezvousStore;
  randomHex: (bytes: number) => string;
  /** Drawn at start-up: the key of the return-routability cookies (a restart makes every old one invalid). */
  cookieKey: Uint8Array;
  timings?: RendezvousTimings;
  limits?: RendezvousLimits;
  /** The server's second port for NAT probing, announced in REGISTERED and MATCH. */
  altPort?: number;
  /**
   * From this time on, a fresh first REGISTER (it passed the time window and the nonce memory) that completes
   * a pair is announced at once, on probation. Before it (the server's start plus one replay window), a
   * packet sealed before a restart could still look fresh, so every first contact gets a challenge.
   * @default 0
   */
  announceAfter?: number;
  /**
   * This server among those sharing the store: the owner written into the pairs it makes, whose MATCHes
   * only it retransmits. Servers sharing a store must each have their own. @default "local"
   */
  serverId?: string;
}

/** What the limits count: sessions in the store, registrations from one address. */
interface Occupancy {
  sessions: number;
  atAddress: number;
}

/** What a handler decides inside `store.update`: the session's new state, and what to send or report. */
type Decision<T = ServerAction[]> = [SessionChange, T];

/**
 * The rendezvous logic, pure: given authenticated frames and the time, it says what to send. No sockets, no
 * timers, no randomness of its own (pair ids come from `randomHex`), so tests drive it with a fake clock. Its
 * only effects are on the store, through the RendezvousStore interface: every change of a session is one
 * atomic `update`, and the packets of one session are handled one after the other, never interleaved.
 *
 * A REGISTER counts only with a cookie that proves its sender receives at its address (the first one is
 * answered with a challenge); a live registration is never taken over by another peer id; a pair is made
 * only of peers that answer, and is undone (UNMATCH to the one that answered) when one of them does not.
 */
export class RendezvousCore {
  private readonly t: RendezvousTimings;
  private limits: RendezvousLimits;
  private readonly serverId: string;
  /** Each session's packets (and ticks), one after the other. */
  private readonly queue = new SessionQueue();

  /** MATCH retransmissions (README step 2); ackTimeoutMs bounds them, in time. */
  private readonly matchRetry: BackoffSchedule;

  constructor(private readonly o: CoreOptions) {
    this.t = o.timings ?? DEFAULT_TIMINGS;
    this.limits = o.limits ?? DEFAULT_LIMITS;
    this.serverId = o.serverId ?? "local";
    this.matchRetry = {
      firstMs: this.t.matchRetryMs,
      factor: 2,
      maxMs: this.t.matchRetryMaxMs,
      maxTries: Number.POSITIVE_INFINITY,
    };
  }

  /** New caps (a multi-tenant server's reload): the next REGISTER is held to them; nobody held is dropped. */
  setLimits(limits: RendezvousLimits): void {
    this.limits = limits;
  }

  async onFrame(from: Endpoint, frame: Frame, now: number): Promise<ServerAction[]> {
    const msg = frame.msg;
    if (msg.type === "register")
      return this.queue.run(msg.session, () => this.onRegister(from, msg, frame, now));
    if (msg.type === "matchAck") return this.queue.run(msg.session, () => this.onMatchAck(from, msg, now));
    if (msg.type === "relayRequest")
      return this.queue.run(msg.session, () => this.onRelayRequest(from, msg, now));
    if (msg.type === "natUpdate") return this.queue.run(msg.session, () => this.onNatUpdate(from, msg, now));
    if (msg.type === "leave") return this.queue.run(msg.session, () => this.onLeave(from, msg));
    // Peer-to-peer messages have no business here; ignoring them keeps the server from being a reflector.
    return [drop(from, "unexpected")];
  }

  /** One atomic change of `session`: `decide` may run more than once (see `update`), the last run counts. */
  private async change<T>(
    session: string,
    decide: (rec: SessionRecord | undefined) => Decision<T>,
  ): Promise<T> {
    let result: T | undefined;
    let decided = false;
    await this.o.store.update(session, (rec) => {
      const [next, out] = decide(rec);
      result = out;
      decided = true;
      // Every record written says when the tick must look at it next: the store finds it by that time.
      if (next !== KEEP && next !== undefined) next.wakeAt = this.wakeAt(next);
      return next;
    });
    if (!decided) throw new Error(`store.update(${session}) did not call its function`);
    return result as T;
  }

  private registered(
    from: Endpoint,
    msg: Register,
    echo: string,
    status: RegisterStatus,
    now: number,
  ): ServerAction {
    const cookie = makeCookie(this.o.cookieKey, now, from, msg);
    const reply: Message = { type: "registered", echo, status, observed: from, serverTime: now, cookie };
    if (this.o.altPort) reply.altPort = this.o.altPort;
    return { kind: "send", to: from, msg: reply };
  }

  /** What the limits count now (read before the update, so possibly stale between servers: soft limits). */
  private async occupancy(from: Endpoint): Promise<Occupancy> {
    const [sessions, atAddress] = await Promise.all([
      this.o.store.count(),
      this.o.store.addressCount(from.host),
    ]);
    return { sessions, atAddress };
  }

  private async onRegister(
    from: Endpoint,
    msg: Register,
    frame: Frame,
    now: number,
  ): Promise<ServerAction[]> {
    const nonce = frame.nonce;
    // The limits' counts are read with the done mark, in one wait: most REGISTERs that get here need them.
    const [done, { sessions, atAddress }] = await Promise.all([
      this.o.store.isDone(msg.peerId, now),
      this.occupancy(from),
    ]);
    if (done) return [drop(from, "unexpected")];
    const proven = msg.cookie !== undefined && checkCookie(this.o.cookieKey, msg.cookie, now, from, msg);
    // 1. A registration needs proof that its sender receives at `from`. Without a cookie, the peer that
    // completes a pair is announced at once on probation (its MATCH_ACK is the proof); anything else, and
    // anything stale or replayed, gets a challenge (smaller than the padded REGISTER) and changes nothing.
    if (!proven) {
      const probation = await this.probation(from, msg, frame, now, { sessions, atAddress });
      return probation ?? [this.registered(from, msg, nonce, "challenge", now)];
    }

    return this.change(msg.session, (existing): Decision => {
      const rec: SessionRecord = existing ?? { slots: {} };
      const mine = rec.slots[msg.role];
      const same = mine?.peerId === msg.peerId;
      // A holder that never acknowledged its MATCH (unresponsive) is not live: it left without a LEAVE (a
      // SIGKILL) or lost its mapping, and a new peer (its own next attempt, say) takes the role at once.
      if (mine?.proven && !mine.unresponsive && !same && now - mine.lastSeen < this.t.holdMs) {
        return [KEEP, [this.registered(from, msg, nonce, "busy", now)]];
      }
      if (!mine || !same || mine.addr.host !== from.host) {
        if (!existing && sessions >= this.limits.maxSessions)
          return [KEEP, [this.registered(from, msg, nonce, "full", now), limitEvent("sessions", from)]];
        if (atAddress >= this.limits.maxPerAddress)
          return [KEEP, [this.registered(from, msg, nonce, "limit", now), limitEvent("address", from)]];
      }

      const out: ServerAction[] = [];
      // A peer that lists several servers registers with each from its one socket, and behind a symmetric
      // NAT each server sees another port: that is not a move (a rebinding), which only its holder can see.
      const viaOther = same && mine?.server !== undefined && mine.server !== this.serverId;
      const seenElsewhere = viaOther && mine !== undefined && !sameEndpoint(mine.addr, from);
      if (rec.pair && seenElsewhere && mine) {
        // Paired while another server holds it (that one retransmits its MATCH): answer this copy from here,
        // to the address seen here, and change nothing, or each server's copy would undo the other's pair.
        const here = { ...mine, addr: from, echo: nonce, server: this.serverId };
        const view: SessionRecord = { ...rec, slots: { ...rec.slots, [msg.role]: here } };
        return [KEEP, [this.matchFor(msg.session, view, msg.role, now)]];
      }
      const moved = same && mine !== undefined && !viaOther && !sameEndpoint(mine.addr, from);
      if (!same || moved)
        out.push(event({ type: "server-registration", session: msg.session, role: msg.role, from }));
      this.place(rec, msg, from, nonce, now, true);

      const partner = rec.slots[other(msg.role)];
      if (rec.pair && same && !moved) {
        // Already paired: this REGISTER crossed our MATCH (or proves a peer on probation); answer with the
        // MATCH again. If it carries NAT behaviour the partner's MATCH did not have, pass it on, or a birthday
        // pair waits for news that never comes.
        const learned = msg.nat && !sameNat(msg.nat, mine?.nat);
        if (learned && msg.nat && partner)
          out.push(
            this.sendTo(partner, {
              type: "partnerNat",
              to: partner.peerId,
              pairId: rec.pair.pairId,
              nat: msg.nat,
            }),
          );
        return [rec, [...out, this.matchFor(msg.session, rec, msg.role, now)]];
      }
      // A new peer, or one whose address changed mid-announcement (its NAT rebound): (re)announce to both.
      if (partner && partner.peerId !== msg.peerId && !partner.unresponsive) {
        return [rec, [...out, ...this.pairUp(msg.session, rec, now, msg.role)]];
      }
      delete rec.pair;
      out.push(this.registered(from, msg, nonce, "waiting", now));
      return [rec, out];
    });
  }

  /**
   * A fresh first REGISTER (not a replay, within the time window, after `announceAfter`) is taken on
   * probation: it leaves a slot that blocks nobody, and its MATCH_ACK (or its next REGISTER, with the cookie
   * it is sent) from `from` proves it. If it completes a pair, both are announced at once, so the second peer
   * waits for no extra round trip; otherwise it gets the challenge as well. A slot on probation that never
   * proves itself is dropped after probationMs, or with its pair after ackTimeoutMs, the partner having sent
   * the unproven address at most the punch's bounded PINGs.
   */
  private async probation(
    from: Endpoint,
    msg: Register,
    frame: Frame,
    now: number,
    { sessions, atAddress }: Occupancy,
  ): Promise<ServerAction[] | undefined> {
    if (!frame.fresh || frame.timestamp < (this.o.announceAfter ?? 0)) return undefined;
    return this.change(msg.session, (existing): Decision<ServerAction[] | undefined> => {
      const rec: SessionRecord = existing ?? { slots: {} };
      const partner = rec.slots[other(msg.role)];
      const mine = rec.slots[msg.role];
      if (mine?.proven) return [KEEP, undefined]; // a proven holder (or this peer, moving) must prove the new address
      if (!existing && sessions >= this.limits.maxSessions) return [KEEP, undefined];
      if (atAddress >= this.limits.maxPerAddress) return [KEEP, undefined];
      const out: ServerAction[] = [];
      if (mine?.peerId !== msg.peerId)
        out.push(event({ type: "server-registration", session: msg.session, role: msg.role, from }));
      this.place(rec, msg, from, frame.nonce, now, false);
      const live =
        partner !== undefined &&
        partner.peerId !== msg.peerId &&
        !partner.unresponsive &&
        now - partner.lastSeen <= this.t.holdMs;
      if (live) return [rec, [...out, ...this.pairUp(msg.session, rec, now, msg.role)]];
      return [rec, [...out, this.registered(from, msg, frame.nonce, "challenge", now)]];
    });
  }

  /** Puts the registration in its role's slot (the store counts slots per address from what it writes). */
  private place(
    rec: SessionRecord,
    msg: Register,
    from: Endpoint,
    nonce: string,
    now: number,
    proven: boolean,
  ): void {
    const mine = rec.slots[msg.role];
    const same = mine?.peerId === msg.peerId;
    rec.slots[msg.role] = {
      peerId: msg.peerId,
      addr: from,
      candidates: msg.candidates,
      lastSeen: now,
      nat: msg.nat ?? (same ? mine?.nat : undefined),
      echo: nonce,
      proven,
      server: this.serverId,
      // Every REGISTER of a run carries the offer, so the latest one is the offer: a REGISTER without one
      // takes it back. Stored only when present (the store leaves out undefined).
      offer: msg.offer,
      // Likewise the latest REGISTER's mode: a peer restarted without proxy mode is held as such.
      proxy: msg.proxy,
    };
  }

  /**
   * A peer that stops before it is paired frees its role, so a partner that comes next (or its own next
   * attempt, with a new peer id) is not paired with a ghost. A pending pair is undone: UNMATCH to the other.
   */
  private onLeave(from: Endpoint, msg: Leave): Promise<ServerAction[]> {
    return this.change(msg.session, (rec): Decision => {
      const slot = rec?.slots[msg.role];
      if (!rec || !slot || slot.peerId !== msg.peerId) return [KEEP, [drop(from, "unexpected")]];
      const out: ServerAction[] = [];
      const pair = rec.pair;
      if (pair) {
        delete rec.pair;
        const partner = rec.slots[other(msg.role)];
        if (partner) out.push(...this.unmatchTo(partner, pair.pairId));
      }
      delete rec.slots[msg.role];
      out.push(event({ type: "server-left", session: msg.session, role: msg.role }));
      return [rec.slots.a || rec.slots.b ? rec : undefined, out];
    });
  }

  /**
   * 2. Both peers are here and answer: push the MATCH to both at once, retransmitting until acknowledged.
   * A pair already being announced (the `changed` role moved or was replaced) is undone for the other peer
   * first, with UNMATCH, so that it takes the new MATCH. This server owns the new pair's retransmissions.
   */
  private pairUp(session: string, rec: SessionRecord, now: number, changed: Role): ServerAction[] {
    const old = rec.pair;
    const stay = rec.slots[other(changed)];
    const undo: ServerAction[] = old && stay ? this.unmatchTo(stay, old.pairId) : [];
    const first = { at: now + this.t.matchRetryMs, delayMs: this.t.matchRetryMs };
    const pair = {
      pairId: this.o.randomHex(16),
      owner: this.serverId,
      acked: { a: false, b: false },
      createdAt: now,
      retry: { a: { ...first }, b: { ...first } },
    };
    rec.pair = pair;
    const { a, b } = rec.slots;
    if (!a || !b) throw new Error(`pairUp(${session}) without two peers`);
    const out: ServerAction[] = [...undo, event({ type: "server-pair", session, a: a.addr, b: b.addr })];
    // A peer another server holds gets its MATCH from there, built there (its cookie, its time).
    for (const role of ROLES) {
      const holder = this.holder(rec, role);
      out.push(
        holder === this.serverId
          ? this.matchFor(session, rec, role, now)
          : { kind: "notify", server: holder, session, role, pairId: pair.pairId },
      );
    }
    return out;
  }

  /** The server that holds peer `role` (took its latest REGISTER), which alone sends to it. */
  private holder(rec: Snapshot<SessionRecord>, role: Role): string {
    return rec.slots[role]?.server ?? rec.pair?.owner ?? this.serverId;
  }

  /** `msg` to the peer in `slot`, from the server holding it. */
  private sendTo(slot: { addr: Endpoint; server?: string }, msg: Message): ServerAction {
    const via = slot.server;
    return via !== undefined && via !== this.serverId
      ? { kind: "send", to: slot.addr, msg, via }
      : { kind: "send", to: slot.addr, msg };
  }

  private unmatchTo(
    slot: { addr: Endpoint; peerId: string; server?: string },
    pairId: string,
  ): ServerAction[] {
    const msg: Message = { type: "unmatch", to: slot.peerId, pairId };
    return Array.from({ length: UNMATCH_COPIES }, () => this.sendTo(slot, msg));
  }

  /**
   * Another server paired the peer `role` this server holds (a notify action there): send it its MATCH, if the
   * pair is still the same, unacknowledged, and the peer still ours. Reads only; the pair's owner writes.
   */
  async onNotice(session: string, role: Role, pairId: string, now: number): Promise<ServerAction[]> {
    return this.queue.run(session, async () => {
      const rec = await this.o.store.get(session);
      const pair = rec?.pair;
      if (!rec || pair?.pairId !== pairId || pair.acked[role]) return [];
      if (this.holder(rec, role) !== this.serverId) return [];
      return [this.matchFor(session, rec, role, now)];
    });
  }

  private async onMatchAck(
    from: Endpoint,
    { session, pairId, peerId }: MatchAck,
    now: number,
  ): Promise<ServerAction[]> {
    const done = await this.change(session, (rec): Decision<RecentPair | undefined> => {
      if (!rec?.pair || rec.pair.pairId !== pairId) return [KEEP, undefined];
      const role = ROLES.find((r) => rec.slots[r]?.peerId === peerId);
      const slot = role ? rec.slots[role] : undefined;
      // The acknowledgement must come from the address the MATCH went to: the proof of a peer on probation.
      if (!role || !slot || !sameEndpoint(slot.addr, from)) return [KEEP, undefined];
      slot.proven = true;
      rec.pair.acked[role] = true;
      const { a, b } = rec.slots;
      if (!rec.pair.acked.a || !rec.pair.acked.b || !a || !b) return [rec, undefined];
      // Both acknowledged: the session ends; what outlives it is written next.
      const servers = { ...(a.server ? { a: a.server } : {}), ...(b.server ? { b: b.server } : {}) };
      return [
        undefined,
        { session, peers: { a: a.peerId, b: b.peerId }, addrs: { a: a.addr, b: b.addr }, servers },
      ];
    });
    return done ? this.finish(pairId, done, now) : [];
  }

  /**
   * The pair is made: its peers are remembered as done (a late duplicate REGISTER starts nothing) and the
   * pair by its id (a relay may still be asked for), after the session was deleted. In this server nothing
   * of the session runs in between (its queue waits); another server may briefly see neither.
   */
  private async finish(pairId: string, pair: RecentPair, now: number): Promise<ServerAction[]> {
    const until = now + this.t.doneMemoryMs;
    for (const role of ROLES) await this.o.store.markDone(pair.peers[role], until);
    await this.o.store.rememberPair(pairId, pair, until);
    return [event({ type: "server-paired", session: pair.session })];
  }

  /** Pass a peer's late-learned NAT behaviour to its partner, which may then pick a better strategy. */
  private async onNatUpdate(from: Endpoint, msg: NatUpdate, now: number): Promise<ServerAction[]> {
    type Partner = { addr: Endpoint; peerId: string; server?: string };
    let partner = await this.change(msg.session, (live): Decision<Partner | undefined> => {
      if (live?.pair?.pairId !== msg.pairId || !live.slots.a || !live.slots.b) return [KEEP, undefined];
      const role = ROLES.find((r) => live.slots[r]?.peerId === msg.peerId);
      const mine = role ? live.slots[role] : undefined;
      const theirs = role ? live.slots[other(role)] : undefined;
      if (!mine || !theirs) return [KEEP, undefined];
      mine.nat = msg.nat;
      return [live, { addr: theirs.addr, peerId: theirs.peerId, server: theirs.server }];
    });
    if (!partner) {
      const recent = await this.o.store.recentPair(msg.pairId, now);
      const role = ROLES.find((r) => recent?.peers[r] === msg.peerId);
      if (recent && role) {
        const theirs = other(role);
        partner = {
          addr: recent.addrs[theirs],
          peerId: recent.peers[theirs],
          server: recent.servers?.[theirs],
        };
      }
    }
    if (!partner) return [drop(from, "unexpected")];
    return [
      this.sendTo(partner, { type: "partnerNat", to: partner.peerId, pairId: msg.pairId, nat: msg.nat }),
    ];
  }

  private async onRelayRequest(
    from: Endpoint,
    { session, pairId, peerId }: RelayRequest,
    now: number,
  ): Promise<ServerAction[]> {
    const live = await this.o.store.get(session);
    const pair =
      live?.pair?.pairId === pairId && live.slots.a && live.slots.b
        ? {
            peers: { a: live.slots.a.peerId, b: live.slots.b.peerId },
            addrs: { a: live.slots.a.addr, b: live.slots.b.addr },
          }
        : await this.o.store.recentPair(pairId, now);
    const role = ROLES.find((r) => pair?.peers[r] === peerId);
    // Only the two peers of a pair this server made may have a relay for it, and only from the IP they
    // registered from: the relay's per-IP limit then counts the addresses the server saw registering, and
    // a request with a spoofed source cannot spend another address's share.
    if (!pair || !role || normalizeHost(pair.addrs[role].host) !== normalizeHost(from.host)) {
      return [drop(from, "unexpected")];
    }
    return [{ kind: "relay", pairId, peers: { a: pair.peers.a, b: pair.peers.b }, peerId, reply: from }];
  }

  /**
   * 3. Retransmit unacknowledged MATCHes (of the pairs this server owns), undo pairs with a silent peer,
   * expire silent registrations. Sessions with nothing due are only read, not written.
   */
  async tick(now: number): Promise<ServerAction[]> {
    const store = this.o.store;
    await store.sweep(now);
    // Only the sessions whose wakeAt has come: a tick costs what is due, not what the store holds.
    const due = await store.due(now);
    const outs = await Promise.all(
      due.map((session) =>
        this.queue.run(session, () =>
          this.change(session, (rec) => (rec ? this.tickSession(session, rec, now) : [KEEP, []])),
        ),
      ),
    );
    return outs.flat();
  }

  /** Whether `tick` has anything to do for this session at `now`; it asks again of the fresh record. */
  private due(rec: Snapshot<SessionRecord>, now: number): boolean {
    const pair = rec.pair;
    if (pair) return now - pair.createdAt >= this.t.ackTimeoutMs || this.retransmits(rec, now).length > 0;
    return ROLES.every((r) => !rec.slots[r]) || ROLES.some((r) => this.expired(rec.slots[r], now));
  }

  /** The roles whose MATCH this server retransmits at `now`: unacknowledged, due, held by this server. */
  private retransmits(rec: Snapshot<SessionRecord>, now: number): Role[] {
    const pair = rec.pair;
    if (!pair) return [];
    return ROLES.filter(
      (r) => !pair.acked[r] && now >= pair.retry[r].at && this.holder(rec, r) === this.serverId,
    );
  }

  /**
   * The earliest time `due` can be true for `rec`: a peer's next MATCH or the pair's ack timeout, else the
   * first slot's expiry. A peer another server holds still wakes the record at its retry time (for every
   * server: the holder may change); `due` then finds nothing to do for the others.
   */
  private wakeAt(rec: SessionRecord): number {
    const pair = rec.pair;
    if (pair) {
      let at = pair.createdAt + this.t.ackTimeoutMs;
      for (const r of ROLES) if (!pair.acked[r]) at = Math.min(at, pair.retry[r].at);
      return at;
    }
    let at = Number.POSITIVE_INFINITY;
    for (const role of ROLES) {
      const slot = rec.slots[role];
      if (slot)
        at = Math.min(at, slot.lastSeen + (slot.proven ? this.t.registrationTtlMs : this.t.probationMs));
    }
    // A record with no slot is due at once (the tick deletes it).
    return at === Number.POSITIVE_INFINITY ? Number.NEGATIVE_INFINITY : at;
  }

  private expired(slot: Snapshot<Registration> | undefined, now: number): boolean {
    const ttl = slot?.proven ? this.t.registrationTtlMs : this.t.probationMs;
    return slot !== undefined && now - slot.lastSeen > ttl;
  }

  private tickSession(session: string, rec: SessionRecord, now: number): Decision {
    if (!this.due(rec, now)) return [KEEP, []];
    const pair = rec.pair;
    // Any server undoes a pair at its timeout (the owner may be gone); the atomic update lets only one.
    if (pair && now - pair.createdAt >= this.t.ackTimeoutMs) return [rec, this.unpair(session, rec)];
    if (pair) {
      const out: ServerAction[] = [];
      for (const role of this.retransmits(rec, now)) {
        out.push(this.matchFor(session, rec, role, now));
        // The wait lives in the session record, not in a Backoff: a shared store holds it.
        const delayMs = grow(this.matchRetry, pair.retry[role].delayMs);
        pair.retry[role] = { at: now + delayMs, delayMs };
      }
      return [rec, out];
    }
    const out: ServerAction[] = [];
    for (const role of ROLES) {
      if (this.expired(rec.slots[role], now)) {
        delete rec.slots[role];
        out.push(event({ type: "server-expired", session, role }));
      }
    }
    return [rec.slots.a || rec.slots.b ? rec : undefined, out];
  }

  /**
   * A peer never acknowledged: it left, or its NAT mapping is gone. Its partner goes back to waiting; the
   * silent one is paired again only once a new REGISTER shows it is alive (at its new address, if it moved).
   */
  private unpair(session: string, rec: SessionRecord): ServerAction[] {
    const pair = rec.pair;
    if (!pair) return [];
    delete rec.pair;
    const out: ServerAction[] = [event({ type: "server-gave-up", session })];
    for (const role of ROLES) {
      const slot = rec.slots[role];
      if (!slot) continue;
      if (pair.acked[role]) out.push(...this.unmatchTo(slot, pair.pairId));
      // Announced on probation and never answered: a replay, or a peer that left. Forget it.
      else if (!slot.proven) delete rec.slots[role];
      else slot.unresponsive = true;
    }
    return out;
  }

  /** The MATCH for `role`: the partner's public address (as we saw it) first, then what it announced. */
  private matchFor(session: string, rec: Snapshot<SessionRecord>, role: Role, now: number): ServerAction {
    const me = rec.slots[role];
    const partner = rec.slots[other(role)];
    if (!me || !partner || !rec.pair) throw new Error(`matchFor(${session}, ${role}) without a pair`);
    const candidates: Match["candidates"] = [{ kind: "public", ...partner.addr }];
    for (const c of partner.candidates) {
      if (!candidates.some((k) => sameEndpoint(k, c)))
        candidates.push({ kind: c.kind, host: c.host, port: c.port });
    }
    return {
      kind: "send",
      to: me.addr,
      msg: {
        type: "match",
        to: me.peerId,
        echo: me.echo,
        serverTime: now,
        cookie: makeCookie(this.o.cookieKey, now, me.addr, { peerId: me.peerId, session, role }),
        pairId: rec.pair.pairId,
        partnerId: partner.peerId,
        observed: me.addr,
        candidates,
        ...(this.o.altPort ? { altPort: this.o.altPort } : {}),
        ...(partner.nat ? { partnerNat: partner.nat } : {}),
        ...(partner.offer ? { partnerOffer: partner.offer } : {}),
        ...(partner.proxy ? { partnerProxy: true } : {}),
      },
    };
  }
}

const sameNat = (x: NatInfo | undefined, y: NatInfo | undefined): boolean =>
  x?.mapping === y?.mapping && x?.step === y?.step;
const event = (e: NetpunchEvent): ServerAction => ({ kind: "event", event: e });
const drop = (from: Endpoint, reason: "unexpected"): ServerAction => event({ type: "dropped", from, reason });
const limitEvent = (limit: "sessions" | "address", from: Endpoint): ServerAction =>
  event({ type: "server-limit", limit, from });

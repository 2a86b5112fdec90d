import { normalizeHost, sameEndpoint } from "../addr.ts";
import type { Match, Message, Register } from "../protocol/messages.ts";
import type { Frame } from "../protocol/packet.ts";
import type { Endpoint, NetpunchEvent, Role } from "../types.ts";
import type { RendezvousStore, SessionRecord } from "./store.ts";

export interface RendezvousTimings {
  /** @default 45_000: three missed 15 s keepalives; Linux conntrack forgets unreplied UDP after 30 s anyway. */
  registrationTtlMs: number;
  /** @default 200: first MATCH retransmission; doubles up to matchRetryMaxMs. */
  matchRetryMs: number;
  /** @default 2_000 */
  matchRetryMaxMs: number;
  /** @default 30_000: after this an unacknowledged pair is dropped; the peers' punch timeout has long fired. */
  matchGiveUpMs: number;
  /** @default 60_000: how long a finished peer's id is remembered, to ignore its late duplicates. */
  doneMemoryMs: number;
}

export const DEFAULT_TIMINGS: RendezvousTimings = {
  registrationTtlMs: 45_000,
  matchRetryMs: 200,
  matchRetryMaxMs: 2_000,
  matchGiveUpMs: 30_000,
  doneMemoryMs: 60_000,
};

export type ServerAction =
  | { kind: "send"; to: Endpoint; msg: Message }
  | { kind: "event"; event: NetpunchEvent }
  /** Peer `peerId` of a known pair asks for a relay; the driver owns sockets, so it allocates and answers. */
  | { kind: "relay"; pairId: string; peers: Record<Role, string>; peerId: string; reply: Endpoint };

const ROLES: readonly Role[] = ["a", "b"];
const other = (r: Role): Role => (r === "a" ? "b" : "a");

/**
 * The rendezvous logic, pure: given authenticated frames and the time, it says what to send. No sockets, no
 * timers, no randomness of its own (pair ids come from `randomHex`), so tests drive it with a fake clock.
 */
export class RendezvousCore {
  constructor(
    private readonly store: RendezvousStore,
    private readonly randomHex: (bytes: number) => string,
    private readonly t: RendezvousTimings = DEFAULT_TIMINGS,
    /** The server's second port for NAT probing, announced in REGISTERED and MATCH. */
    private readonly altPort?: number,
  ) {}

  onFrame(from: Endpoint, frame: Frame, now: number): ServerAction[] {
    const msg = frame.msg;
    if (msg.type === "register") return this.onRegister(from, msg, frame.nonce, now);
    if (msg.type === "matchAck") return this.onMatchAck(msg.session, msg.pairId, msg.peerId, now);
    if (msg.type === "relayRequest")
      return this.onRelayRequest(from, msg.session, msg.pairId, msg.peerId, now);
    if (msg.type === "natUpdate") return this.onNatUpdate(from, msg, now);
    // Peer-to-peer messages have no business here; ignoring them keeps the server from being a reflector.
    return [{ kind: "event", event: { type: "dropped", from, reason: "unexpected" } }];
  }

  private onRegister(from: Endpoint, msg: Register, nonce: string, now: number): ServerAction[] {
    if (this.store.isDone(msg.peerId, now))
      return [{ kind: "event", event: { type: "dropped", from, reason: "unexpected" } }];
    const rec: SessionRecord = this.store.get(msg.session) ?? { slots: {} };
    const mine = rec.slots[msg.role];
    const out: ServerAction[] = [];

    if (rec.pair && mine?.peerId === msg.peerId) {
      // Already paired: this REGISTER is a retry that crossed our MATCH; answer with the MATCH again.
      mine.addr = from;
      mine.lastSeen = now;
      if (msg.nat) mine.nat = msg.nat;
      return [this.matchFor(msg.session, rec, msg.role)];
    }
    if (rec.pair) delete rec.pair; // a new peer replaces one that vanished mid-announcement
    if (!mine || mine.peerId !== msg.peerId || !sameEndpoint(mine.addr, from)) {
      out.push({
        kind: "event",
        event: { type: "server-registration", session: msg.session, role: msg.role, from },
      });
    }
    rec.slots[msg.role] = {
      peerId: msg.peerId,
      addr: from,
      candidates: msg.candidates,
      lastSeen: now,
      nat: msg.nat,
      mapped: msg.mapped,
    };
    this.store.set(msg.session, rec);

    const partner = rec.slots[other(msg.role)];
    if (!partner || partner.peerId === msg.peerId) {
      const registered: Message = { type: "registered", echo: nonce, observed: from };
      if (this.altPort) registered.altPort = this.altPort;
      out.push({ kind: "send", to: from, msg: registered });
      return out;
    }
    // 2. Both peers are here: push the MATCH to both at once (push, not poll), retransmitting until acked.
    rec.pair = {
      pairId: this.randomHex(16),
      acked: { a: false, b: false },
      createdAt: now,
      nextRetryAt: now + this.t.matchRetryMs,
      retryDelayMs: this.t.matchRetryMs,
    };
    const a = rec.slots.a?.addr ?? from;
    const b = rec.slots.b?.addr ?? from;
    out.push({ kind: "event", event: { type: "server-pair", session: msg.session, a, b } });
    for (const role of ROLES) out.push(this.matchFor(msg.session, rec, role));
    return out;
  }

  private onMatchAck(session: string, pairId: string, peerId: string, now: number): ServerAction[] {
    const rec = this.store.get(session);
    if (!rec?.pair || rec.pair.pairId !== pairId) return [];
    const role = ROLES.find((r) => rec.slots[r]?.peerId === peerId);
    if (!role) return [];
    rec.pair.acked[role] = true;
    return rec.pair.acked.a && rec.pair.acked.b ? this.finish(session, rec, now) : [];
  }

  /** Pass a peer's late-learned NAT behaviour to its partner, which may then pick a better strategy. */
  private onNatUpdate(
    from: Endpoint,
    msg: Extract<Message, { type: "natUpdate" }>,
    now: number,
  ): ServerAction[] {
    const live = this.store.get(msg.session);
    let partnerAddr: Endpoint | undefined;
    if (live?.pair?.pairId === msg.pairId && live.slots.a && live.slots.b) {
      const role = ROLES.find((r) => live.slots[r]?.peerId === msg.peerId);
      const mine = role ? live.slots[role] : undefined;
      if (role && mine) {
        mine.nat = msg.nat;
        partnerAddr = live.slots[other(role)]?.addr;
      }
    } else {
      const recent = this.store.recentPair(msg.pairId, now);
      const role = ROLES.find((r) => recent?.peers[r] === msg.peerId);
      if (recent && role) partnerAddr = recent.addrs[other(role)];
    }
    if (!partnerAddr) return [{ kind: "event", event: { type: "dropped", from, reason: "unexpected" } }];
    return [{ kind: "send", to: partnerAddr, msg: { type: "partnerNat", pairId: msg.pairId, nat: msg.nat } }];
  }

  private onRelayRequest(
    from: Endpoint,
    session: string,
    pairId: string,
    peerId: string,
    now: number,
  ): ServerAction[] {
    const live = this.store.get(session);
    const pair =
      live?.pair?.pairId === pairId && live.slots.a && live.slots.b
        ? {
            peers: { a: live.slots.a.peerId, b: live.slots.b.peerId },
            addrs: { a: live.slots.a.addr, b: live.slots.b.addr },
          }
        : this.store.recentPair(pairId, now);
    const role = ROLES.find((r) => pair?.peers[r] === peerId);
    // Only the two peers of a pair this server made may have a relay for it, and only from the IP they
    // registered from: the relay's per-IP limit then counts the addresses the server saw registering, and
    // a request with a spoofed source cannot spend another address's share.
    if (!pair || !role || normalizeHost(pair.addrs[role].host) !== normalizeHost(from.host)) {
      return [{ kind: "event", event: { type: "dropped", from, reason: "unexpected" } }];
    }
    return [{ kind: "relay", pairId, peers: pair.peers, peerId, reply: from }];
  }

  /** 3. Retransmit unacknowledged MATCHes, and expire silent registrations. Call it every ~100 ms. */
  tick(now: number): ServerAction[] {
    const out: ServerAction[] = [];
    this.store.sweep(now);
    for (const [session, rec] of [...this.store.sessions()]) {
      const pair = rec.pair;
      if (pair) {
        if (now - pair.createdAt > this.t.matchGiveUpMs) {
          this.finish(session, rec, now);
          out.push({ kind: "event", event: { type: "server-gave-up", session } });
          continue;
        }
        if (now < pair.nextRetryAt) continue;
        for (const role of ROLES) if (!pair.acked[role]) out.push(this.matchFor(session, rec, role));
        pair.retryDelayMs = Math.min(pair.retryDelayMs * 2, this.t.matchRetryMaxMs);
        pair.nextRetryAt = now + pair.retryDelayMs;
        continue;
      }
      for (const role of ROLES) {
        const slot = rec.slots[role];
        if (slot && now - slot.lastSeen > this.t.registrationTtlMs) {
          delete rec.slots[role];
          out.push({ kind: "event", event: { type: "server-expired", session, role } });
        }
      }
      if (!rec.slots.a && !rec.slots.b) this.store.delete(session);
    }
    return out;
  }

  private finish(session: string, rec: SessionRecord, now: number): ServerAction[] {
    for (const role of ROLES) {
      const slot = rec.slots[role];
      if (slot) this.store.markDone(slot.peerId, now + this.t.doneMemoryMs);
    }
    const { a, b } = rec.slots;
    if (rec.pair && a && b) {
      const peers = { a: a.peerId, b: b.peerId };
      const addrs = { a: a.addr, b: b.addr };
      this.store.rememberPair(rec.pair.pairId, { session, peers, addrs }, now + this.t.doneMemoryMs);
    }
    this.store.delete(session);
    return [{ kind: "event", event: { type: "server-paired", session } }];
  }

  /** The MATCH for `role`: the partner's public address (as we saw it) first, then its LAN addresses. */
  private matchFor(session: string, rec: SessionRecord, role: Role): ServerAction {
    const me = rec.slots[role];
    const partner = rec.slots[other(role)];
    if (!me || !partner || !rec.pair) throw new Error(`matchFor(${session}, ${role}) without a pair`);
    const candidates: Match["candidates"] = [{ kind: "public", ...partner.addr }];
    if (partner.mapped && !sameEndpoint(partner.mapped, partner.addr)) {
      candidates.push({ kind: "mapped", ...partner.mapped });
    }
    for (const c of partner.candidates) {
      if (!candidates.some((k) => sameEndpoint(k, c)))
        candidates.push({ kind: "lan", host: c.host, port: c.port });
    }
    return {
      kind: "send",
      to: me.addr,
      msg: {
        type: "match",
        pairId: rec.pair.pairId,
        partnerId: partner.peerId,
        observed: me.addr,
        candidates,
        ...(this.altPort ? { altPort: this.altPort } : {}),
        ...(partner.nat ? { partnerNat: partner.nat } : {}),
      },
    };
  }
}

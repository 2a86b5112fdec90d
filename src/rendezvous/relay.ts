import { normalizeHost } from "../addr.ts";
import { MAGIC, MessageType, NONCE_LEN, VERSION } from "../protocol/constants.ts";
import type { Message, RelayOfferStatus } from "../protocol/messages.ts";
import { open, seal } from "../protocol/packet.ts";
import type { ReplayWindow } from "../protocol/replay.ts";
import { type Clock, systemClock } from "../sys/clock.ts";
import { type Random, systemRandom } from "../sys/random.ts";
import type { Datagram, Transport, TransportFactory } from "../transport/types.ts";
import type { DropReason, Endpoint, Role } from "../types.ts";
import { admit, type RelayHolding } from "./relay-admission.ts";
import { ByteBucket, type RelayLimits, RelaySession } from "./relay-session.ts";

export interface RelayManagerOptions {
  /** Address the relay sockets bind to (the server's listen host). */
  host: string;
  /** The key RELAY_BIND is opened and answered with, unless `offer` names a pair's own (its tenant's). */
  key: Uint8Array;
  replay: ReplayWindow;
  transport: TransportFactory;
  /** @default 16 relayed pairs at once; one source IP may hold MAX_RELAYS_PER_SOURCE_IP of them. */
  maxSessions: number;
  /** Ports the relays may use, so an operator can open exactly those; any free port when absent. */
  ports?: { low: number; high: number };
  limits: RelayLimits;
  onDrop(from: Endpoint, reason: DropReason | "relay-rate" | "relay-unbound"): void;
  /** The sessions' times (binding, idleness, rate) and the seal's timestamp. @default the system clock */
  clock?: Clock;
  /** The token key, the random start in `ports`, the nonces. @default node:crypto */
  random?: Random;
  /**
   * Runs `flush` once the datagrams that arrived together have been handled: the relay forwards them in one
   * sendMany (one sendmmsg) where the transport has it. Bun hands over one recvmmsg batch per event-loop turn
   * and drains microtasks after each datagram, so a microtask would flush one at a time; setImmediate runs
   * after the whole batch. @default setImmediate
   */
  defer?: (flush: () => void) => void;
}

/** One relay port: its pair's session, its socket, and what it will forward at the end of this turn. */
interface Relay {
  readonly session: RelaySession;
  /** Its pair's packet key: the server's, or its tenant's on a multi-tenant server (as it is now). */
  readonly key: () => Uint8Array;
  readonly transport: Transport;
  /** Reused from turn to turn: a datagram to forward costs no allocation once the relay has warmed up. */
  readonly outbox: Datagram[];
  queued: number;
}

const EMPTY = new Uint8Array(0);

/** Adds a session's bytes to `toward`, by where they went: what a sent, b received, and back. */
const addToward = (toward: Record<Role, number>, s: RelaySession): void => {
  toward.b += s.bytesFrom.a;
  toward.a += s.bytesFrom.b;
};

const isRelayBind = (d: Uint8Array) =>
  d.length > 4 &&
  d[0] === MAGIC[0] &&
  d[1] === MAGIC[1] &&
  d[2] === VERSION &&
  d[3] === MessageType.relayBind;

/**
 * Relay sockets, one per relayed pair, on a free port of the server's host. A peer binds its mapped address
 * with an authenticated RELAY_BIND that echoes the relay's challenge (proof that it receives there); from then
 * on the socket forwards datagrams between the two bound addresses only. What it forwards is the tunnel's own (encrypted) traffic: the relay has no tunnel keys.
 */
export class RelayManager {
  private readonly relays = new Map<string, Relay>();
  private readonly pending = new Map<string, Promise<number>>();
  /** Every slot, open or opening, with who holds it: what the per-peer and per-IP limits count. */
  private readonly holdings = new Map<string, RelayHolding>();
  /** Keys the address-proof tokens; fresh per server run, known to no peer. */
  private readonly tokenKey: Uint8Array;
  private readonly clock: Clock;
  private readonly random: Random;
  private readonly defer: (flush: () => void) => void;
  /** Relays with datagrams queued this turn, flushed together by one deferred call. */
  private readonly dirty: Relay[] = [];
  private readonly flushAll = () => this.flush();
  /** All pairs' bytes together, when the operator caps them (limits.totalBytesPerSecond). */
  private readonly total: ByteBucket | undefined;
  relayedBytes = 0;
  /** Relays opened so far (a port bound for a pair). */
  opened = 0;
  /** Bytes toward each role of the relays closed so far; the open ones are added when read. */
  private readonly closedToward: Record<Role, number> = { a: 0, b: 0 };

  constructor(private readonly o: RelayManagerOptions) {
    this.clock = o.clock ?? systemClock;
    this.random = o.random ?? systemRandom;
    this.defer = o.defer ?? setImmediate;
    this.tokenKey = this.random.bytes(32);
    const cap = o.limits.totalBytesPerSecond;
    this.total = cap === undefined ? undefined : new ByteBucket(cap, this.clock.now());
  }

  get active(): number {
    return this.relays.size;
  }

  /** Bytes forwarded toward each role's peer, over every relay open or closed (a's datagrams go to b). */
  get relayedBytesToward(): Record<Role, number> {
    const out = { ...this.closedToward };
    for (const r of this.relays.values()) addToward(out, r.session);
    return out;
  }

  /**
   * The relay port for this pair, opening it on first request when the limits allow; otherwise why not.
   * `from` is the requester's address, whose IP the per-IP limit counts.
   */
  async offer(
    pairId: string,
    peers: Record<Role, string>,
    from: Endpoint,
    /** The server address the peer wrote to: the relay answers from it too (a host with several). */
    localHost?: string,
    /**
     * The pair's packet key (its tenant's), asked at each RELAY_BIND: a tenant whose secret changed binds
     * with the new one only, on relays opened before too. @default options.key
     */
    key: () => Uint8Array = () => this.o.key,
  ): Promise<{ status: RelayOfferStatus; port: number }> {
    const verdict = admit(this.holdings.values(), { pairId, peers, from: from.host }, this.o.maxSessions);
    if (verdict === "full" || verdict === "limit") return { status: verdict, port: 0 };
    let port = this.relays.get(pairId)?.transport.local.port;
    if (port === undefined) {
      let opening = this.pending.get(pairId);
      if (!opening) {
        this.holdings.set(pairId, { pairId, peers, openedBy: normalizeHost(from.host) });
        opening = this.open(pairId, peers, localHost ?? this.o.host, key).finally(() =>
          this.pending.delete(pairId),
        );
        this.pending.set(pairId, opening);
      }
      port = await opening;
    }
    return port ? { status: "ok", port } : { status: "full", port: 0 };
  }

  private async open(
    pairId: string,
    peers: Record<Role, string>,
    host: string,
    key: () => Uint8Array,
  ): Promise<number> {
    const session = new RelaySession(pairId, peers, this.o.limits, this.clock.now(), this.tokenKey);
    let relay: Relay | undefined;
    const handler = (data: Uint8Array, from: Endpoint) => {
      if (relay) this.onDatagram(relay, data, from);
    };
    let transport: Transport | undefined;
    for (const port of this.candidatePorts()) {
      try {
        transport = await this.o.transport({ host, port }, handler);
        break;
      } catch {
        // taken by another relay or program: try the next one
      }
    }
    if (!transport) {
      this.holdings.delete(pairId);
      return 0; // the range is full: the peers are told there is no room
    }
    relay = { session, key, transport, outbox: [], queued: 0 };
    this.relays.set(pairId, relay);
    this.opened++;
    return transport.local.port;
  }

  /** Any free port, or the configured range from a random start, so relays do not all pile on its low end. */
  private candidatePorts(): number[] {
    const r = this.o.ports;
    if (!r) return [0];
    const n = r.high - r.low + 1;
    const start = Math.floor(this.random.float() * n);
    return Array.from({ length: n }, (_, i) => r.low + ((start + i) % n));
  }

  private onDatagram(relay: Relay, data: Uint8Array, from: Endpoint): void {
    const { session, transport } = relay;
    const now = this.clock.now();
    // Five byte compares, for every datagram: a bound peer sends RELAY_BIND again from its bound address
    // whenever a RELAY_BOUND was lost, so a BIND can come from anywhere, at any time.
    if (isRelayBind(data)) {
      const key = relay.key();
      const opened = open(key, data);
      if (!opened.ok) return this.o.onDrop(from, opened.reason);
      const verdict = this.o.replay.check(opened.frame.nonce, opened.frame.timestamp, now);
      if (verdict !== "ok") return this.o.onDrop(from, verdict);
      const msg = opened.frame.msg;
      if (msg.type !== "relayBind" || msg.pairId !== session.pairId)
        return this.o.onDrop(from, "foreign-pair");
      const r = session.bind(msg.peerId, from, msg.token, now);
      if ("drop" in r) return this.o.onDrop(from, "foreign-pair");
      // RELAY_CHALLENGE and RELAY_BOUND are both smaller than the padded RELAY_BIND they answer.
      const reply: Message =
        "challenge" in r
          ? { type: "relayChallenge", pairId: session.pairId, token: r.challenge }
          : { type: "relayBound", pairId: session.pairId, ready: r.ready };
      transport.send(seal(key, reply, { timestamp: now, nonce: this.random.bytes(NONCE_LEN) }), from);
      // The side that bound first was told "not ready" and would only hear otherwise on its next BIND (250
      // ms on): tell it now. Once per session, to an address that proved it receives there with two padded
      // BINDs (so what it got stays below what it sent: a CHALLENGE, a BOUND, this BOUND).
      if ("partner" in r && r.partner) {
        const ready: Message = { type: "relayBound", pairId: session.pairId, ready: true };
        transport.send(seal(key, ready, { timestamp: now, nonce: this.random.bytes(NONCE_LEN) }), r.partner);
      }
      return;
    }
    const routed = session.route(from, data.length, now, this.total);
    if ("drop" in routed) return this.o.onDrop(from, routed.drop === "rate" ? "relay-rate" : "relay-unbound");
    this.relayedBytes += data.length;
    if (!transport.sendMany) {
      transport.send(data, routed.to);
      return;
    }
    const slot = relay.outbox[relay.queued];
    if (slot) {
      slot.data = data;
      slot.to = routed.to;
    } else relay.outbox.push({ data, to: routed.to });
    if (relay.queued++ > 0) return;
    if (this.dirty.push(relay) === 1) this.defer(this.flushAll);
  }

  /** Sends what every relay queued this turn, one sendMany per relay, and lets go of the datagrams. */
  private flush(): void {
    for (const relay of this.dirty) {
      const { outbox, queued } = relay;
      const first = outbox[0] as Datagram;
      // One datagram (a quiet turn) goes by send, which costs less than building a batch of one. sendMany
      // takes a whole array; the slots beyond this turn's stay for a busier one.
      if (queued === 1) relay.transport.send(first.data, first.to);
      else relay.transport.sendMany?.(queued === outbox.length ? outbox : outbox.slice(0, queued));
      for (let i = 0; i < queued; i++) (outbox[i] as Datagram).data = EMPTY;
      relay.queued = 0;
    }
    this.dirty.length = 0;
  }

  /** Closes idle relays and relays whose second peer never came. */
  tick(now: number): string[] {
    const closed: string[] = [];
    for (const [pairId, r] of this.relays) {
      if (!r.session.expired(now)) continue;
      addToward(this.closedToward, r.session);
      r.transport.close();
      this.relays.delete(pairId);
      this.holdings.delete(pairId);
      closed.push(pairId);
    }
    return closed;
  }

  close(): void {
    this.flush(); // what arrived before close still goes out, as it did when every datagram was sent at once
    for (const r of this.relays.values()) {
      addToward(this.closedToward, r.session);
      r.transport.close();
    }
    this.relays.clear();
    this.holdings.clear();
  }
}

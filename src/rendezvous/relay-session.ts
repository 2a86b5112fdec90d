import { createHmac, timingSafeEqual } from "node:crypto";
import { normalizeHost } from "../addr.ts";
import { RELAY_TOKEN_LEN } from "../protocol/constants.ts";
import type { Endpoint, Role } from "../types.ts";

export interface RelayLimits {
  /**
   * @default 12_500_000: bytes per second per session (both directions), with a one-second burst: 100 Mbit/s,
   * so a tunnel through the relay carries what a typical uplink does (the old 1 MB/s, 8 Mbit/s, made a relayed
   * tunnel feel broken). One relay process on one core forwards 500+ Mbit/s of 1200-byte datagrams
   * (bench/relay.ts), so a few pairs at full rate fill it: `totalBytesPerSecond` caps them all.
   */
  bytesPerSecond: number;
  /**
   * @default undefined: no cap beyond each pair's. Bytes per second for all relayed pairs together, with a
   * one-second burst: the share of the server's link (or CPU) an operator lends to relaying.
   */
  totalBytesPerSecond?: number;
  /**
   * @default 60_000: a session is closed once either bound side has sent nothing for this long. Both sides'
   * NATs need outbound traffic to keep their mappings to the relay (tunnels keep alive every 10-25 s), so an
   * honest pair always talks from both ends; one spoofer alone cannot hold a relay open.
   */
  idleMs: number;
  /** @default 30_000: how long the second peer has to bind after the first asked. */
  bindMs: number;
}

export const DEFAULT_RELAY_LIMITS: RelayLimits = {
  bytesPerSecond: 12_500_000,
  idleMs: 60_000,
  bindMs: 30_000,
};

/** Bytes per second with a one-second burst, starting full. Pure: the time comes in. */
export class ByteBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly rate: number,
    now: number,
  ) {
    this.tokens = rate;
    this.last = now;
  }

  /** Whether `size` bytes fit now (after refilling for the time since the last call); spends nothing. */
  fits(size: number, now: number): boolean {
    this.tokens = Math.min(this.rate, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
    return this.tokens >= size;
  }

  spend(size: number): void {
    this.tokens -= size;
  }
}

export type RouteResult = { readonly to: Endpoint } | { readonly drop: "unbound" | "not-ready" | "rate" };

/** The drops as constants: routing allocates nothing per datagram. */
const UNBOUND: RouteResult = { drop: "unbound" };
const NOT_READY: RouteResult = { drop: "not-ready" };
const OVER_RATE: RouteResult = { drop: "rate" };

/**
 * A bound side, with what routing compares computed once at bind: the port first (a number, and what tells
 * two peers behind one NAT apart), then the host as it arrives, then its normal form (a v4-mapped or
 * upper-case v6 spelling), so normalizeHost runs only when a port matches but the spelling does not.
 */
interface Side {
  readonly at: Endpoint;
  readonly port: number;
  readonly host: string;
  readonly normalHost: string;
  /** What route() returns for a datagram from the other side: allocated once, here. */
  readonly toHere: RouteResult;
}

const side = (from: Endpoint): Side => {
  const at = { host: from.host, port: from.port };
  return { at, port: at.port, host: at.host, normalHost: normalizeHost(at.host), toHere: { to: at } };
};

/** sameEndpoint(from, s.at), without normalizing on the common path. */
const isFrom = (s: Side | undefined, from: Endpoint): boolean =>
  s !== undefined &&
  s.port === from.port &&
  (s.host === from.host || s.normalHost === normalizeHost(from.host));

/**
 * A challenge token is good for the period it was made in and the next one: 10 to 20 s, far above any round
 * trip, and short enough that a token outlives no NAT mapping by much. It only ever proves the one address
 * it was sent to, so a longer life would give an attacker nothing but a stale proof.
 */
export const RELAY_TOKEN_PERIOD_MS = 10_000;

/**
 * The return-routability token for `peerId` of `pairId` at `from`: an HMAC under a key only this relay knows
 * (not the shared secret, which every peer holds), so only who reads the challenge at `from` can echo it.
 * Stateless: the relay stores nothing per challenge, so spoofed BINDs cannot fill its memory.
 */
export function relayToken(key: Uint8Array, pairId: string, peerId: string, from: Endpoint, epoch: number) {
  const h = createHmac("sha256", key).update(`netpunch relay bind|${epoch}|${pairId}|${peerId}|`);
  h.update(`${normalizeHost(from.host)}|${from.port}`);
  return h.digest().subarray(0, RELAY_TOKEN_LEN).toString("hex");
}

/** Constant-time, so the relay's answers leak nothing about how much of a guessed token was right. */
const sameToken = (a: string, b: string) =>
  a.length === b.length && timingSafeEqual(Buffer.from(a, "hex"), Buffer.from(b, "hex"));

export type BindResult =
  /** Not proven yet: send RELAY_CHALLENGE with this token to the sender. Nothing is bound. */
  | { challenge: string }
  /**
   * The address is proven and bound: send RELAY_BOUND. `partner`: this bind made the pair ready, and the
   * side bound before it (told "not ready" then) is told it is now, at its proven address, once.
   */
  | { ready: boolean; partner?: Endpoint }
  /** Not a peer of this pair. */
  | { drop: "foreign-peer" };

/**
 * One relayed pair, pure: who is bound where, where a datagram goes, the rate limit and idleness. The relay
 * forwards only between the two addresses that bound with an authenticated RELAY_BIND for this pair and then
 * proved, by echoing a challenge sent there, that they receive at that address. One datagram goes out per
 * datagram in, so it can be neither an open proxy, nor an amplifier, nor aimed at a spoofed victim.
 */
export class RelaySession {
  private a: Side | undefined;
  private b: Side | undefined;
  private readonly bucket: ByteBucket;
  /** When each bound side last proved it is alive: forwarded traffic from it, or a proven RELAY_BIND. */
  private readonly lastHeard: Partial<Record<Role, number>> = {};
  readonly created: number;
  bytes = 0;
  /** What `bytes` counts, by the role whose datagrams they were (the metrics' bytes each way). */
  readonly bytesFrom: Record<Role, number> = { a: 0, b: 0 };

  constructor(
    readonly pairId: string,
    readonly peers: Record<Role, string>,
    private readonly limits: RelayLimits,
    now: number,
    /** Keys the challenge tokens; random per relay server, never sent. */
    private readonly tokenKey: Uint8Array,
  ) {
    this.bucket = new ByteBucket(limits.bytesPerSecond, now);
    this.created = now;
  }

  /**
   * An authenticated RELAY_BIND from `from`. Without a valid token for exactly this peer and address it only
   * earns a challenge (smaller than the padded BIND: no amplification); with one, it binds `peerId`'s mapped
   * address, and a proven rebind moves it (the peer's NAT may have remapped). An unproven BIND never moves a
   * binding, so nobody can point the relay at a victim's address.
   */
  bind(peerId: string, from: Endpoint, token: string | undefined, now: number): BindResult {
    const role = (Object.keys(this.peers) as Role[]).find((r) => this.peers[r] === peerId);
    if (!role) return { drop: "foreign-peer" };
    const epoch = Math.floor(now / RELAY_TOKEN_PERIOD_MS);
    const fresh = relayToken(this.tokenKey, this.pairId, peerId, from, epoch);
    const valid =
      token !== undefined &&
      (sameToken(token, fresh) ||
        sameToken(token, relayToken(this.tokenKey, this.pairId, peerId, from, epoch - 1)));
    if (!valid) return { challenge: fresh };
    const was = this.ready;
    if (role === "a") this.a = side(from);
    else this.b = side(from);
    this.lastHeard[role] = now;
    // Sides are never unbound, so a pair becomes ready once: one unasked RELAY_BOUND per session at most.
    const other = role === "a" ? this.b : this.a;
    if (!was && other) return { ready: true, partner: other.at };
    return { ready: this.ready };
  }

  get ready(): boolean {
    return this.a !== undefined && this.b !== undefined;
  }

  /**
   * Where a datagram from `from` goes. What still holds: the relay cannot authenticate the tunnel's own
   * datagrams (it has no tunnel keys), so anyone who spoofs a bound address can have junk forwarded to the
   * partner, up to the session's rate limit, until the data plane authenticates them. Such junk keeps only
   * the spoofed side "alive": the session still closes when the other side falls silent.
   */
  route(from: Endpoint, size: number, now: number, total?: ByteBucket): RouteResult {
    const fromRole: Role | undefined = isFrom(this.a, from) ? "a" : isFrom(this.b, from) ? "b" : undefined;
    if (!fromRole) return UNBOUND;
    const to = fromRole === "a" ? this.b : this.a;
    if (!to) return NOT_READY;
    // Both checked before either spends: a datagram the server-wide cap refuses costs its pair nothing.
    if (!this.bucket.fits(size, now) || (total && !total.fits(size, now))) return OVER_RATE;
    this.bucket.spend(size);
    total?.spend(size);
    this.bytes += size;
    this.bytesFrom[fromRole] += size;
    this.lastHeard[fromRole] = now;
    return to.toHere;
  }

  /** Unbound too long, or one side silent for idleMs (traffic from the other side alone does not count). */
  expired(now: number): boolean {
    if (!this.ready) return now - this.created > this.limits.bindMs;
    const quietest = Math.min(this.lastHeard.a ?? this.created, this.lastHeard.b ?? this.created);
    return now - quietest > this.limits.idleMs;
  }
}

import { sameEndpoint } from "../addr.ts";
import type { Endpoint, Role } from "../types.ts";

export interface RelayLimits {
  /** @default 1_000_000: bytes per second per session (both directions), with a one-second burst. */
  bytesPerSecond: number;
  /** @default 60_000: a session with no forwarded traffic for this long is closed (tunnels keep alive faster). */
  idleMs: number;
  /** @default 30_000: how long the second peer has to bind after the first asked. */
  bindMs: number;
}

export const DEFAULT_RELAY_LIMITS: RelayLimits = {
  bytesPerSecond: 1_000_000,
  idleMs: 60_000,
  bindMs: 30_000,
};

export type RouteResult = { to: Endpoint } | { drop: "unbound" | "not-ready" | "rate" };

/**
 * One relayed pair, pure: who is bound where, where a datagram goes, the rate limit and idleness. The relay
 * forwards only between the two addresses that bound with an authenticated RELAY_BIND for this pair, one
 * datagram out per datagram in, so it can be neither an open proxy nor an amplifier.
 */
export class RelaySession {
  private readonly bound: Partial<Record<Role, Endpoint>> = {};
  private tokens: number;
  private lastRefill: number;
  private lastTraffic: number;
  readonly created: number;
  bytes = 0;

  constructor(
    readonly pairId: string,
    readonly peers: Record<Role, string>,
    private readonly limits: RelayLimits,
    now: number,
  ) {
    this.tokens = limits.bytesPerSecond;
    this.lastRefill = now;
    this.lastTraffic = now;
    this.created = now;
  }

  /** Binds `peerId`'s mapped address; a rebind moves it (the peer's NAT may have remapped). */
  bind(peerId: string, from: Endpoint, now: number): { ok: boolean; ready: boolean } {
    const role = (Object.keys(this.peers) as Role[]).find((r) => this.peers[r] === peerId);
    if (!role) return { ok: false, ready: this.ready };
    this.bound[role] = { host: from.host, port: from.port };
    this.lastTraffic = now;
    return { ok: true, ready: this.ready };
  }

  get ready(): boolean {
    return this.bound.a !== undefined && this.bound.b !== undefined;
  }

  route(from: Endpoint, size: number, now: number): RouteResult {
    const { a, b } = this.bound;
    const to = a && sameEndpoint(from, a) ? b : b && sameEndpoint(from, b) ? a : undefined;
    if (!a && !b) return { drop: "unbound" };
    if (!(a && sameEndpoint(from, a)) && !(b && sameEndpoint(from, b))) return { drop: "unbound" };
    if (!to) return { drop: "not-ready" };
    this.refill(now);
    if (this.tokens < size) return { drop: "rate" };
    this.tokens -= size;
    this.bytes += size;
    this.lastTraffic = now;
    return { to };
  }

  expired(now: number): boolean {
    if (!this.ready) return now - this.created > this.limits.bindMs;
    return now - this.lastTraffic > this.limits.idleMs;
  }

  private refill(now: number): void {
    const rate = this.limits.bytesPerSecond;
    this.tokens = Math.min(rate, this.tokens + ((now - this.lastRefill) / 1000) * rate);
    this.lastRefill = now;
  }
}

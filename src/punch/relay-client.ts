import { isIP } from "../addr.ts";
import { Backoff } from "../backoff.ts";
import type { Message, RelayChallenge, RelayOffer } from "../protocol/messages.ts";
import type { Endpoint } from "../types.ts";

export type RelayStep = { to: Endpoint; msg: Message }[];

/** @default every 500 ms: a RELAY_REQUEST is answered in one server RTT; the punch goes on meanwhile. */
const REQUEST_RETRY = { firstMs: 500, factor: 1, maxMs: 500, maxTries: Number.POSITIVE_INFINITY };
/**
 * @default every 250 ms: binding is on the critical path of a relayed connect, so retry it sooner. Only loss
 * waits for it: the relay answers each BIND at once, and tells the peer bound first when the second binds.
 */
const BIND_RETRY = { firstMs: 250, factor: 1, maxMs: 250, maxTries: Number.POSITIVE_INFINITY };

/**
 * The peer's side of the relay fallback, pure: ask the server for a relay (every 500 ms until it answers),
 * then bind our mapped address at the relay port (on the server asked, or on the host the offer names: with
 * several servers on one store, the pair's one relay is where it was first opened), every 250 ms until the
 * relay says both peers are bound (a peer bound before its partner is told so, unasked, when the partner
 * binds), answering the relay's challenge at once so it knows the address is ours.
 * The machine then PINGs the relay like any other candidate.
 */
export class RelayClient {
  private state: "idle" | "requesting" | "binding" | "ready" | "refused" = "idle";
  private readonly request = new Backoff(REQUEST_RETRY);
  private readonly bind = new Backoff(BIND_RETRY);
  private port = 0;
  /** Where the relay is: the server asked, or the host its offer named (the pair's relay on another server). */
  private host: string;
  /** The relay's latest challenge token, echoed in every BIND from then on. */
  private token: string | undefined;
  /** Why the server refused, once it has: no relay at all, no room, or this peer's share used up. */
  refusal: Exclude<RelayOffer["status"], "ok"> | undefined;

  constructor(
    private readonly server: Endpoint,
    private readonly ids: { session: string; pairId: string; peerId: string },
  ) {
    this.host = server.host;
  }

  get endpoint(): Endpoint | undefined {
    return this.port ? { host: this.host, port: this.port } : undefined;
  }
  get phase() {
    return this.state;
  }

  start(now: number): RelayStep {
    if (this.state !== "idle") return [];
    this.state = "requesting";
    return this.tick(now);
  }

  tick(now: number): RelayStep {
    const { session, pairId, peerId } = this.ids;
    if (this.state === "requesting" && this.request.due(now)) {
      this.request.sent(now);
      return [{ to: this.server, msg: { type: "relayRequest", session, pairId, peerId } }];
    }
    if (this.state === "binding" && this.endpoint && this.bind.due(now)) {
      this.bind.sent(now);
      const token = this.token ? { token: this.token } : {};
      return [{ to: this.endpoint, msg: { type: "relayBind", pairId, peerId, ...token } }];
    }
    return [];
  }

  /** Only an offer for this pair and this peer, while we ask, counts: a late or stray one changes nothing. */
  onOffer(offer: RelayOffer, now: number): RelayStep {
    if (this.state !== "requesting") return [];
    if (offer.pairId !== this.ids.pairId || offer.to !== this.ids.peerId) return [];
    if (offer.status !== "ok") {
      this.state = "refused";
      this.refusal = offer.status;
      return [];
    }
    // A host of the other address family than the server's cannot be reached from our one socket: as good
    // as no relay (a server names only its own relay host, which operators give in the servers' family).
    if (offer.host !== undefined && isIP(offer.host) !== isIP(this.server.host)) {
      this.state = "refused";
      this.refusal = "off";
      return [];
    }
    this.port = offer.port;
    this.host = offer.host ?? this.server.host;
    this.state = "binding";
    return this.tick(now); // the first BIND at once
  }

  /**
   * The relay asks us to prove our address: echo its token at once (one round trip, not a retry interval).
   * A later challenge replaces the token (it expired, or our NAT mapping moved).
   */
  onChallenge(challenge: RelayChallenge, now: number): RelayStep {
    if (this.state !== "binding" || challenge.pairId !== this.ids.pairId) return [];
    this.token = challenge.token;
    this.bind.now();
    return this.tick(now);
  }

  /**
   * Binds again at the same relay port (proxy mode, once the relay stopped forwarding for us: our NAT may
   * have given us a new port). The relay challenges the new address and moves the binding once it echoes.
   */
  rebind(now: number): RelayStep {
    if (!this.endpoint || (this.state !== "ready" && this.state !== "binding")) return [];
    this.state = "binding";
    this.token = undefined;
    this.bind.now();
    return this.tick(now);
  }

  /** True when this makes the relay usable (both peers bound). */
  onBound(ready: boolean): boolean {
    if (this.state !== "binding" || !ready) return false;
    this.state = "ready";
    return true;
  }

  wakeAt(): number {
    if (this.state === "requesting") return this.request.nextAt;
    return this.state === "binding" ? this.bind.nextAt : Number.POSITIVE_INFINITY;
  }
}

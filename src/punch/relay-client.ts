import type { Message, RelayChallenge, RelayOffer } from "../protocol/messages.ts";
import type { Endpoint } from "../types.ts";

export type RelayStep = { to: Endpoint; msg: Message }[];

/**
 * The peer's side of the relay fallback, pure: ask the server for a relay (every 500 ms until it answers),
 * then bind our mapped address at the relay port (every 250 ms until the relay says both peers are bound),
 * answering the relay's challenge at once so it knows the address is ours.
 * The machine then PINGs the relay like any other candidate.
 */
export class RelayClient {
  private state: "idle" | "requesting" | "binding" | "ready" | "refused" = "idle";
  private nextAt = 0;
  private port = 0;
  /** The relay's latest challenge token, echoed in every BIND from then on. */
  private token: string | undefined;
  /** Why the server refused, once it has: no relay at all, no room, or this peer's share used up. */
  refusal: Exclude<RelayOffer["status"], "ok"> | undefined;

  constructor(
    private readonly server: Endpoint,
    private readonly ids: { session: string; pairId: string; peerId: string },
  ) {}

  get endpoint(): Endpoint | undefined {
    return this.port ? { host: this.server.host, port: this.port } : undefined;
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
    if (now < this.nextAt) return [];
    const { session, pairId, peerId } = this.ids;
    if (this.state === "requesting") {
      this.nextAt = now + 500;
      return [{ to: this.server, msg: { type: "relayRequest", session, pairId, peerId } }];
    }
    if (this.state === "binding" && this.endpoint) {
      this.nextAt = now + 250;
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
    this.port = offer.port;
    this.state = "binding";
    this.nextAt = 0;
    return this.tick(now);
  }

  /**
   * The relay asks us to prove our address: echo its token at once (one round trip, not a retry interval).
   * A later challenge replaces the token (it expired, or our NAT mapping moved).
   */
  onChallenge(challenge: RelayChallenge, now: number): RelayStep {
    if (this.state !== "binding" || challenge.pairId !== this.ids.pairId) return [];
    this.token = challenge.token;
    this.nextAt = 0;
    return this.tick(now);
  }

  /** True when this makes the relay usable (both peers bound). */
  onBound(ready: boolean): boolean {
    if (this.state !== "binding" || !ready) return false;
    this.state = "ready";
    return true;
  }

  wakeAt(): number {
    return this.state === "requesting" || this.state === "binding" ? this.nextAt : Number.POSITIVE_INFINITY;
  }
}

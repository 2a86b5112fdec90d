import { Backoff, type BackoffSchedule } from "../backoff.ts";
import type { Message, RelayChallenge } from "../protocol/messages.ts";
import type { Endpoint } from "../types.ts";
import { DEFAULT_PATH_TIMINGS } from "./paths.ts";

/**
 * @default 500 ms, then 1.5x per try up to 15 s, for the tunnel's life: the direct path's search schedule
 * (paths.ts probeMs, probeMaxMs), so that where UDP was blocked altogether and opens again, the relay's
 * UDP port and the partner's direct addresses are tried in the same rounds, and the relay (two round trips)
 * answers before the direct path has its three answers in a row. At most one BIND of about 100 bytes per
 * 15 s while nothing answers.
 */
export const UDP_RETURN_RETRY: BackoffSchedule = {
  firstMs: DEFAULT_PATH_TIMINGS.probeMs,
  factor: 1.5,
  maxMs: DEFAULT_PATH_TIMINGS.probeMaxMs,
  maxTries: Number.POSITIVE_INFINITY,
};

/**
 * Back from the WebSocket to UDP, pure (the time comes in): a proxy on the relay over the WebSocket sends
 * RELAY_BIND for its pair to the relay's port over UDP now and then (UDP_RETURN_RETRY). A UDP path that
 * works earns the relay's challenge; echoed at once, it moves our binding at the relay to the UDP address
 * (the relay moves a binding only for a proven address, relay-session.ts). RELAY_BOUND then says the relay
 * forwards to us over UDP, and the driver leaves the WebSocket.
 */
export class UdpReturn {
  private readonly tries = new Backoff(UDP_RETURN_RETRY);
  /** The relay's latest challenge to our UDP address: echoed in every BIND from then on. */
  private token: string | undefined;

  constructor(
    /** The relay's port at the UDP server's host. */
    readonly relay: Endpoint,
    private readonly ids: { pairId: string; peerId: string },
  ) {}

  /** A BIND when one is due. */
  tick(now: number): Message | undefined {
    if (!this.tries.due(now)) return undefined;
    this.tries.sent(now);
    return this.bind();
  }

  /** The relay heard us over UDP: echo its token at once (one round trip, not a retry interval). */
  onChallenge(c: RelayChallenge): Message | undefined {
    if (c.pairId !== this.ids.pairId) return undefined;
    this.token = c.token;
    return this.bind();
  }

  /**
   * RELAY_BOUND to a BIND that carried a token: the relay forwards to our UDP address now. (`ready` false: the
   * partner is not bound, which a relay that carried our tunnel cannot say; keep trying.)
   */
  onBound(ready: boolean): boolean {
    return ready && this.token !== undefined;
  }

  wakeAt(): number {
    return this.tries.nextAt;
  }

  private bind(): Message {
    const { pairId, peerId } = this.ids;
    return { type: "relayBind", pairId, peerId, ...(this.token ? { token: this.token } : {}) };
  }
}

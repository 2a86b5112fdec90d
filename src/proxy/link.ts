import { sameEndpoint } from "../addr.ts";
import type { Endpoint, Role } from "../types.ts";
import { SequenceWindow } from "./window.ts";

/**
 * Proxy mode's path to the partner, pure (the time comes in with every call): where DATA goes, what the next
 * sequence number is, when a keepalive is due, and whether an authenticated DATA from the partner is new and
 * moves the path (a NAT rebinding). The driver (driver.ts) seals, sends and delivers.
 */
export interface LinkTimings {
  /**
   * @default 30_000: how long the proxy goes on binding a relay the punch left half-bound: the relay closes
   * a session whose second peer has not bound by then (its bindMs).
   */
  relaySetupMs: number;
  /**
   * @default 15_000: a keepalive when we have sent nothing for this long. Linux conntrack forgets a UDP
   * mapping nobody answered after 30 s (udp_timeout, LAB-NOTES); 15 s refreshes it twice within that, so one
   * lost keepalive costs nothing. The relay's idle timeout (60 s) is longer still.
   */
  keepaliveMs: number;
}

export const DEFAULT_LINK_TIMINGS: LinkTimings = {
  keepaliveMs: 15_000,
  relaySetupMs: 30_000,
};

export interface LinkCounters {
  /** The tunnel's datagrams and their bytes, each way (keepalives are not counted). */
  packetsOut: number;
  bytesOut: number;
  packetsIn: number;
  bytesIn: number;
  keepalivesOut: number;
  /** Authenticated DATA refused by the window (replays, far too late). */
  replays: number;
  /** Times the partner's address moved (NAT rebinding). */
  moves: number;
}

export type ReceiveVerdict =
  /**
   * Deliver the payload (an empty one is a keepalive: nothing to deliver); `moved` when the direct address
   * moved (a rebinding), `learned` when it was not known before (the punch ended on the relay).
   */
  | { deliver: true; moved?: Endpoint; learned?: Endpoint }
  | { deliver: false; reason: "replay" | "stale" | "foreign-pair" | "reflected" };

export class ProxyLink {
  private readonly window = new SequenceWindow();
  private seq = 0;
  private lastSent: number;
  readonly timings: LinkTimings;
  readonly counters: LinkCounters = {
    packetsOut: 0,
    bytesOut: 0,
    packetsIn: 0,
    bytesIn: 0,
    keepalivesOut: 0,
    replays: 0,
    moves: 0,
  };

  /** Our port at the server's relay once it is ready: what comes from there came through the relay. */
  relay: Endpoint | undefined = undefined;

  constructor(
    /**
     * The partner's direct address: the punched one, or undefined when the punch ended on the relay (until
     * a probe's answer or the partner's DATA comes straight from it).
     */
    public remote: Endpoint | undefined,
    readonly pairId: string,
    readonly role: Role,
    now: number,
    timings: Partial<LinkTimings> = {},
  ) {
    this.timings = { ...DEFAULT_LINK_TIMINGS, ...timings };
    // The punch itself just refreshed the mapping.
    this.lastSent = now;
  }

  get partnerRole(): Role {
    return this.role === "a" ? "b" : "a";
  }

  /** A DATA goes out now with `bytes` of payload (0: a keepalive): its sequence number. */
  send(bytes: number, now: number): number {
    this.lastSent = now;
    if (bytes === 0) this.counters.keepalivesOut++;
    else {
      this.counters.packetsOut++;
      this.counters.bytesOut += bytes;
    }
    return this.seq++;
  }

  /** When a keepalive is due if nothing else goes out before. */
  keepaliveAt(): number {
    return this.lastSent + this.timings.keepaliveMs;
  }

  /** Whether the keepalive is due at `now`. */
  keepaliveDue(now: number): boolean {
    return now >= this.keepaliveAt();
  }

  /**
   * An authenticated DATA from `from`. Only the newest sequence number moves the direct address, so a late or
   * replayed copy from an old address never takes it back; what comes from the relay's port moves nothing.
   * One window for both paths: a datagram sent on one and replayed on the other is a replay.
   */
  receive(
    msg: { pairId: string; from: Role; seq: number; payload: Uint8Array },
    from: Endpoint,
  ): ReceiveVerdict {
    return this.receiveData(msg.pairId === this.pairId, msg.from, msg.seq, msg.payload.length, from);
  }

  /**
   * receive() of a DATA read in place (DataCodec, protocol/data.ts): whether it is of our pair, its sender,
   * sequence number and payload size. The verdicts that move nothing are shared objects, not made per packet.
   */
  receiveData(ourPair: boolean, sender: Role, seq: number, bytes: number, from: Endpoint): ReceiveVerdict {
    if (!ourPair) return FOREIGN_PAIR;
    // Our own packet sent back to us (same secret, same pair): the partner never sends as our role.
    if (sender !== this.partnerRole) return REFLECTED;
    const verdict = this.window.check(seq);
    if (verdict === "replay" || verdict === "stale") {
      this.counters.replays++;
      return verdict === "replay" ? REPLAY : STALE;
    }
    if (bytes > 0) {
      this.counters.packetsIn++;
      this.counters.bytesIn += bytes;
    }
    if (verdict !== "newest" || (this.relay && sameEndpoint(from, this.relay))) return DELIVER;
    if (!this.remote) {
      this.remote = { host: from.host, port: from.port };
      return { deliver: true, learned: this.remote };
    }
    if (!sameEndpoint(from, this.remote)) {
      this.remote = { host: from.host, port: from.port };
      this.counters.moves++;
      return { deliver: true, moved: this.remote };
    }
    return DELIVER;
  }
}

const DELIVER: ReceiveVerdict = Object.freeze({ deliver: true });
const FOREIGN_PAIR: ReceiveVerdict = Object.freeze({ deliver: false, reason: "foreign-pair" });
const REFLECTED: ReceiveVerdict = Object.freeze({ deliver: false, reason: "reflected" });
const REPLAY: ReceiveVerdict = Object.freeze({ deliver: false, reason: "replay" });
const STALE: ReceiveVerdict = Object.freeze({ deliver: false, reason: "stale" });

import type { Transport } from "../transport/types.ts";
import type { DropReason, Endpoint } from "../types.ts";
import { NONCE_LEN } from "./constants.ts";
import type { Message } from "./messages.ts";
import { type Frame, open, seal } from "./packet.ts";
import { isPeerMessage, isPeerType } from "./peer-key.ts";
import { ReplayGuard, type ReplayWindow } from "./replay.ts";

export interface ChannelHooks {
  onFrame(from: Endpoint, frame: Frame): void;
  onDrop(from: Endpoint, reason: DropReason): void;
}

export interface ChannelOptions {
  /**
   * The time packets are sealed and checked in, per packet (who it goes to or came from, and what it is):
   * peers pass a server's time as they estimate it, each server's own for its packets and a pair's for the
   * pair's packets. @default Date.now
   */
  clock?: (peer: Endpoint, msg: Message) => number;
  /** Channels of one side share a guard: a packet replayed to another socket is a replay too. */
  replay?: ReplayWindow;
  /**
   * Messages delivered even when they fail the time window or the nonce memory, with `frame.fresh` saying
   * whether they passed: they may come before the clocks are aligned, and are answered statelessly with
   * something smaller when not fresh (a first REGISTER, a PROBE), or checked against what we sent instead
   * (the echo of REGISTERED, the id of PROBE_REPLY).
   */
  exempt?: (msg: Message) => boolean;
  /** Wire version 1's key: a v1 packet that authenticates with it is an old peer, not a forgery. */
  oldKey?: Uint8Array;
  /**
   * A pair's own key (peer-key.ts): the peers' messages to each other (PING, PONG, CLOSE, DATA) are sealed
   * and must authenticate with it, everything else with the channel's key. @default the channel's key
   */
  peerKey?: Uint8Array;
  /** Random bytes for nonces. @default the OS's CSPRNG (Web Crypto's getRandomValues) */
  randomBytes?: (n: number) => Uint8Array;
}

/** Web Crypto, a global: node:crypto would cost every peer's start-up about 10 ms for its randomBytes. */
const osRandomBytes = (n: number): Uint8Array => crypto.getRandomValues(new Uint8Array(n));

/**
 * Authenticated datagrams over a transport: every packet out is sealed with a fresh nonce and the time;
 * every packet in is authenticated, decoded, validated and checked for replay before anyone sees it.
 */
export class SecureChannel {
  private readonly replay: ReplayWindow;
  private readonly o: ChannelOptions;
  clock: (peer: Endpoint, msg: Message) => number;
  transport: Transport | undefined;

  constructor(
    private readonly key: Uint8Array,
    private readonly hooks: ChannelHooks,
    opts: ChannelOptions = {},
  ) {
    this.o = opts;
    this.replay = opts.replay ?? new ReplayGuard();
    this.clock = opts.clock ?? Date.now;
  }

  /**
   * Seals `msg`; `allow` may veto the send once the size is known (the server's anti-amplification ledger);
   * `nonce` is for a sender that checks the echo of its own nonce in the answer.
   */
  send(to: Endpoint, msg: Message, allow?: (bytes: number) => boolean, nonce?: Uint8Array): boolean {
    nonce ??= (this.o.randomBytes ?? osRandomBytes)(NONCE_LEN);
    const key = this.o.peerKey && isPeerMessage(msg.type) ? this.o.peerKey : this.key;
    const packet = seal(key, msg, { timestamp: this.clock(to, msg), nonce });
    if (allow && !allow(packet.length)) return false;
    return this.transport?.send(packet, to) ?? false;
  }

  /** Feed every datagram the transport receives here. */
  receive(data: Uint8Array, from: Endpoint): void {
    const key = this.o.peerKey && isPeerType(data[3]) ? this.o.peerKey : this.key;
    const opened = open(key, data, this.o.oldKey);
    if (!opened.ok) return this.hooks.onDrop(from, opened.reason);
    const frame = opened.frame;
    const verdict = this.replay.check(frame.nonce, frame.timestamp, this.clock(from, frame.msg));
    frame.fresh = verdict === "ok";
    if (verdict !== "ok" && !this.o.exempt?.(frame.msg)) return this.hooks.onDrop(from, verdict);
    this.hooks.onFrame(from, frame);
  }
}

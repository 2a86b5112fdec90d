import { randomBytes } from "node:crypto";
import { NONCE_LEN } from "./protocol/constants.ts";
import type { Message } from "./protocol/messages.ts";
import { type Frame, open, seal } from "./protocol/packet.ts";
import { ReplayGuard } from "./protocol/replay.ts";
import type { Transport } from "./transport/types.ts";
import type { DropReason, Endpoint } from "./types.ts";

export interface ChannelHooks {
  onFrame(from: Endpoint, frame: Frame): void;
  onDrop(from: Endpoint, reason: DropReason): void;
}

/**
 * Authenticated datagrams over a transport: every packet out is sealed with a fresh nonce and the time;
 * every packet in is authenticated, decoded, validated and checked for replay before anyone sees it.
 */
export class SecureChannel {
  private readonly replay: ReplayGuard;

  constructor(
    private readonly key: Uint8Array,
    private readonly hooks: ChannelHooks,
    opts: { replayWindowMs?: number; clock?: () => number; replay?: ReplayGuard } = {},
  ) {
    // Channels of one server (main and alt port) share a guard: a packet replayed to the other port is a replay too.
    this.replay = opts.replay ?? new ReplayGuard({ windowMs: opts.replayWindowMs });
    this.clock = opts.clock ?? Date.now;
  }

  private readonly clock: () => number;
  transport: Transport | undefined;

  /** Seals `msg`; `allow` may veto the send once the size is known (the server's anti-amplification ledger). */
  send(to: Endpoint, msg: Message, allow?: (bytes: number) => boolean): boolean {
    const packet = seal(this.key, msg, { timestamp: this.clock(), nonce: randomBytes(NONCE_LEN) });
    if (allow && !allow(packet.length)) return false;
    return this.transport?.send(packet, to) ?? false;
  }

  /** Feed every datagram the transport receives here. */
  receive(data: Uint8Array, from: Endpoint): void {
    const opened = open(this.key, data);
    if (!opened.ok) return this.hooks.onDrop(from, opened.reason);
    const verdict = this.replay.check(opened.frame.nonce, opened.frame.timestamp, this.clock());
    if (verdict !== "ok") return this.hooks.onDrop(from, verdict);
    this.hooks.onFrame(from, opened.frame);
  }
}

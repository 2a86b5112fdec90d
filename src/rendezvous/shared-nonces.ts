import { DEFAULT_REPLAY_WINDOW_MS } from "../protocol/replay.ts";
import type { RedisCommands } from "./redis-scripts.ts";

/**
 * The nonce memory that servers sharing a store share: asked after this server's own ReplayWindow accepted
 * an authenticated packet (so forgeries, and replays to this same server, never reach it), it says whether
 * any server accepted the nonce before. A packet one server accepted is then a replay at every other. The
 * local window still answers first, synchronously: the shared one costs one round trip only for packets
 * that passed it, and only for those whose freshness matters (not PROBEs, which are answered statelessly).
 */
export interface SharedNonces {
  /** True if no server claimed `nonce` before (it is now claimed); false for a replay. Rejects when unreachable. */
  claim(nonce: string): Promise<boolean>;
}

/**
 * @default 3 replay windows (30 s): a nonce is refused as a replay as long as any server could still take
 * its timestamp as fresh (up to one window after it was sealed, in that server's time), with room for
 * servers' clocks a window apart; the local ReplayGuard keeps its own three generations for the same reason.
 */
const NONCE_TTL_MS = 3 * DEFAULT_REPLAY_WINDOW_MS;

/** In Redis: SET key NX PX, one command per packet, no read before it. */
export class RedisNonces implements SharedNonces {
  constructor(
    private readonly redis: RedisCommands,
    private readonly prefix = "{netpunch}:",
    private readonly ttlMs = NONCE_TTL_MS,
  ) {}

  async claim(nonce: string): Promise<boolean> {
    const r = await this.redis.send("SET", [
      `${this.prefix}nonce:${nonce}`,
      "1",
      "NX",
      "PX",
      String(this.ttlMs),
    ]);
    return r === "OK";
  }
}

/** Servers in one process (tests, the simulation): a set that forgets nothing (fine for a test's length). */
export class MemoryNonces implements SharedNonces {
  private readonly seen = new Set<string>();
  async claim(nonce: string): Promise<boolean> {
    if (this.seen.has(nonce)) return false;
    this.seen.add(nonce);
    return true;
  }
}

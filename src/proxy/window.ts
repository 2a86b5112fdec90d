/**
 * Proxy mode's replay check, per sender: a sliding window over DATA's sequence numbers (the idea of IPsec's
 * anti-replay window, RFC 4303 section 3.4.3). A number above the highest seen is new and moves the window; one
 * within WINDOW below it is new once; older is refused. O(1) work and WINDOW bits of memory per pair, where the
 * nonce memory of the control channel (replay.ts) would remember every packet of a tunnel at full rate.
 * Pure. Mark only what authenticated: a forgery must not move the window.
 */
export type WindowVerdict = "newest" | "ok" | "replay" | "stale";

/**
 * @default 4096: datagrams a path may reorder or a batch may deliver late before they count as stale; a tunnel
 * at 1 Gbit/s sends about 90 of 1400 bytes per millisecond, so this is some 45 ms of reordering.
 */
export const REPLAY_WINDOW = 4096;
const WORD = 32;

export class SequenceWindow {
  private readonly bits = new Uint32Array(REPLAY_WINDOW / WORD);
  /** The highest sequence number accepted; -1 before the first. */
  private top = -1;

  /** Whether `seq` is new (then it is remembered): "newest" when it is the highest yet, "ok" when late but unseen. */
  check(seq: number): WindowVerdict {
    if (seq > this.top) {
      this.advance(seq);
      this.set(seq);
      return "newest";
    }
    if (this.top - seq >= REPLAY_WINDOW) return "stale";
    if (this.has(seq)) return "replay";
    this.set(seq);
    return "ok";
  }

  /** Clears the bits of the numbers the window moves over, so they read as unseen. */
  private advance(seq: number): void {
    if (seq - this.top >= REPLAY_WINDOW) this.bits.fill(0);
    else for (let s = this.top + 1; s < seq; s++) this.clear(s);
    // `seq` itself may hold the bit of seq - REPLAY_WINDOW: cleared too, then set by the caller.
    this.clear(seq);
    this.top = seq;
  }

  // A number's bit: word i >>> 5, bit i & 31 of i = seq % REPLAY_WINDOW (no tuple per packet on this path).
  private has(seq: number): boolean {
    const i = seq % REPLAY_WINDOW;
    return ((this.bits[i >>> 5] ?? 0) & (1 << (i & (WORD - 1)))) !== 0;
  }
  private set(seq: number): void {
    const i = seq % REPLAY_WINDOW;
    this.bits[i >>> 5] = (this.bits[i >>> 5] ?? 0) | (1 << (i & (WORD - 1)));
  }
  private clear(seq: number): void {
    const i = seq % REPLAY_WINDOW;
    this.bits[i >>> 5] = (this.bits[i >>> 5] ?? 0) & ~(1 << (i & (WORD - 1)));
  }
}

/** Timings of a peer, each with the reason for its default. */
export interface PeerTimings {
  /** @default 250: first REGISTER retry; doubles up to registerRetryMaxMs. */
  registerRetryMs: number;
  /** @default 2_000 */
  registerRetryMaxMs: number;
  /** @default 10_000: no authenticated answer from the server by then means wrong secret, address or port. */
  serverSilentMs: number;
  /** @default 15_000: Linux conntrack forgets an unreplied UDP mapping after 30 s; stay well inside it. */
  keepaliveMs: number;
  /** @default Infinity: wait for the partner forever, like the original; --timeout sets it. */
  waitMs: number;
  /** @default 10_000: punching that has not succeeded by then will not (NATs have decided). */
  punchMs: number;
  /** @default 40: first PING round interval; short so a PING dropped by the other NAT costs little. */
  pingIntervalMs: number;
  /** @default 500: the interval grows by 1.5x up to this, bounding the packet rate. */
  pingIntervalMaxMs: number;
  /**
   * @default 150: the most a LAN path may still win after a public path answered (LAN is preferred). The
   * actual wait is a quarter of the measured RTT, at least 10 ms, capped by this; none when the server saw
   * the partner at another public IP than us (pair-machine.ts, lanReachable).
   */
  lanGraceMs: number;
  /**
   * @default 3_000: after this long without a direct path, ask the server for a relay (if it has one). A
   * direct path between NATs that allow it is found within a few RTTs; 3 s leaves room for lossy links.
   */
  relayAfterMs: number;
  /** @default true: use the server's relay when direct punching does not work. */
  relay: boolean;
  /**
   * @default 1_200: an easy peer whose partner's NAT is unknown starts probing the partner's ports after
   * this long without a direct path (the partner may be symmetric and have registered before it probed).
   */
  sprayAfterMs: number;
  /** @default 2_048 probes: with 256 sockets on the symmetric side, 1 - (1 - 256/64512)^2048 = 99.97% hit. */
  sprayCount: number;
  /** @default 64 probes every sprayTickMs (about 1,000 a second): bounded, and done within ~2 s. */
  sprayPerTick: number;
  /** @default 60 */
  sprayTickMs: number;
  /** @default 256 sockets the symmetric side opens toward the easy partner (Tailscale's figure). */
  birthdaySockets: number;
  /** @default 500: how often each of those sockets re-sends its PING (keeps its mapping, passes once opened). */
  birthdayPingMs: number;
  /** @default 5: CLOSE packets in the final burst (TIME-WAIT): 20% loss loses all five 0.03% of the time. */
  closeCount: number;
  /**
   * @default 2_000: the most the burst may be stretched by a partner that keeps pinging. A chooser that needs
   * no answer (pair-machine.ts, answerNotNeeded) sends the whole burst at once and does not linger.
   */
  closeLingerMaxMs: number;
}

export const DEFAULT_PEER_TIMINGS: PeerTimings = {
  registerRetryMs: 250,
  registerRetryMaxMs: 2_000,
  serverSilentMs: 10_000,
  keepaliveMs: 15_000,
  waitMs: Number.POSITIVE_INFINITY,
  punchMs: 10_000,
  pingIntervalMs: 40,
  pingIntervalMaxMs: 500,
  lanGraceMs: 150,
  relayAfterMs: 3_000,
  sprayAfterMs: 1_200,
  sprayCount: 2_048,
  sprayPerTick: 64,
  sprayTickMs: 60,
  birthdaySockets: 256,
  birthdayPingMs: 500,
  relay: true,
  closeCount: 5,
  closeLingerMaxMs: 2_000,
};

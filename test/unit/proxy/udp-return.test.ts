// The way back from the WebSocket to UDP, pure: when the BINDs to the relay's UDP port go, the challenge
// echoed, and which RELAY_BOUND counts.
import { describe, expect, test } from "bun:test";
import { DEFAULT_PATH_TIMINGS } from "../../../src/proxy/paths.ts";
import { UDP_RETURN_RETRY, UdpReturn } from "../../../src/proxy/udp-return.ts";

const RELAY = { host: "198.51.100.7", port: 20_000 };
const PAIR = "00112233445566778899aabbccddeeff";
const OURS = "a0a0a0a0a0a0a0a0";
const TOKEN = "ab".repeat(16);

/** The times (from 0) at which BINDs go out over `ms`, ticking every millisecond that matters. */
function bindTimes(r: UdpReturn, ms: number): number[] {
  const at: number[] = [];
  for (let now = 0; now <= ms; now = Math.min(r.wakeAt(), ms + 1)) if (r.tick(now)) at.push(now);
  return at;
}

describe("UdpReturn", () => {
  test("its schedule is the direct path's search: 500 ms first, 1.5x, at most 15 s", () => {
    expect(UDP_RETURN_RETRY).toMatchObject({
      firstMs: DEFAULT_PATH_TIMINGS.probeMs,
      factor: 1.5,
      maxMs: DEFAULT_PATH_TIMINGS.probeMaxMs,
    });
    const r = new UdpReturn(RELAY, { pairId: PAIR, peerId: OURS });
    expect(bindTimes(r, 10_000)).toEqual([0, 500, 1_250, 2_375, 4_062.5, 6_593.75]);
  });

  test("a BIND without a token until the relay challenges; then the token at once and in every later BIND", () => {
    const r = new UdpReturn(RELAY, { pairId: PAIR, peerId: OURS });
    expect(r.tick(0)).toEqual({ type: "relayBind", pairId: PAIR, peerId: OURS });
    expect(r.tick(100)).toBeUndefined(); // not due
    expect(r.onChallenge({ type: "relayChallenge", pairId: PAIR, token: TOKEN })).toEqual({
      type: "relayBind",
      pairId: PAIR,
      peerId: OURS,
      token: TOKEN,
    });
    expect(r.tick(500)).toEqual({ type: "relayBind", pairId: PAIR, peerId: OURS, token: TOKEN });
  });

  test("another pair's challenge is not echoed; RELAY_BOUND counts only after an echoed challenge, and ready", () => {
    const r = new UdpReturn(RELAY, { pairId: PAIR, peerId: OURS });
    expect(r.onChallenge({ type: "relayChallenge", pairId: "ff".repeat(16), token: TOKEN })).toBeUndefined();
    expect(r.onBound(true)).toBe(false); // no BIND of ours carried a token: not an answer to one
    r.onChallenge({ type: "relayChallenge", pairId: PAIR, token: TOKEN });
    expect(r.onBound(false)).toBe(false);
    expect(r.onBound(true)).toBe(true);
  });
});

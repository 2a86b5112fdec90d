import { describe, expect, test } from "bun:test";
import { DEFAULT_REPLAY_WINDOW_MS, ReplayGuard } from "../../../src/protocol/replay.ts";

const NOW = 1_700_000_000_000;
const nonce = (i: number) => i.toString(16).padStart(24, "0");

describe("ReplayGuard", () => {
  test("defaults: a 10-second window (peers seal in the server's time)", () => {
    expect(DEFAULT_REPLAY_WINDOW_MS).toBe(10_000);
    expect(new ReplayGuard().windowMs).toBe(10_000);
    const g = new ReplayGuard();
    expect(g.check(nonce(1), NOW - 10_001, NOW)).toBe("stale");
    expect(g.check(nonce(2), NOW - 10_000, NOW)).toBe("ok");
  });

  test("the same nonce twice is a replay, even with another timestamp", () => {
    const g = new ReplayGuard();
    expect(g.check(nonce(1), NOW, NOW)).toBe("ok");
    expect(g.check(nonce(1), NOW, NOW + 5)).toBe("replay");
    expect(g.check(nonce(1), NOW + 3, NOW + 5)).toBe("replay");
    expect(g.check(nonce(2), NOW, NOW + 5)).toBe("ok");
  });

  test("timestamps outside the window either way are stale; the window's edge is inside", () => {
    const g = new ReplayGuard({ windowMs: 1000 });
    expect(g.check(nonce(1), NOW - 1001, NOW)).toBe("stale");
    expect(g.check(nonce(2), NOW + 1001, NOW)).toBe("stale");
    expect(g.check(nonce(3), NOW - 1000, NOW)).toBe("ok");
    expect(g.check(nonce(4), NOW + 1000, NOW)).toBe("ok");
    expect(g.size).toBe(2);
  });

  test("a stale packet is not remembered (its nonce is not burnt)", () => {
    const g = new ReplayGuard({ windowMs: 1000 });
    expect(g.check(nonce(1), NOW - 5000, NOW)).toBe("stale");
    expect(g.size).toBe(0);
    expect(g.check(nonce(1), NOW, NOW)).toBe("ok");
  });

  test("a replay after its window has passed is stale, not accepted", () => {
    const g = new ReplayGuard({ windowMs: 1000 });
    expect(g.check(nonce(1), NOW, NOW)).toBe("ok");
    expect(g.check(nonce(1), NOW, NOW + 1001)).toBe("stale");
    expect(g.check(nonce(1), NOW, NOW + 60_000)).toBe("stale");
  });

  test("entries older than the window are forgotten", () => {
    const g = new ReplayGuard({ windowMs: 1000 });
    for (let i = 0; i < 10; i++) expect(g.check(nonce(i), NOW, NOW)).toBe("ok");
    expect(g.size).toBe(10);
    expect(g.check(nonce(100), NOW + 5000, NOW + 5000)).toBe("ok");
    expect(g.size).toBe(1);
  });

  describe("bounded memory", () => {
    test("size never exceeds maxEntries: at the bound new packets are refused as overload", () => {
      const g = new ReplayGuard({ maxEntries: 3 });
      for (let i = 0; i < 50; i++) {
        expect(g.check(nonce(i), NOW + i, NOW + i)).toBe(i < 3 ? "ok" : "overload");
        expect(g.size).toBeLessThanOrEqual(3);
      }
      expect(g.size).toBe(3);
    });

    test("at the bound nothing is forgotten: held nonces stay replays, and there is no floor", () => {
      const g = new ReplayGuard({ maxEntries: 3 });
      for (let i = 0; i < 10; i++) g.check(nonce(i), NOW + i, NOW + 10);
      // 0..2 are held: replaying any of them (same authenticated timestamp) fails as a replay.
      for (let i = 0; i < 3; i++) expect(g.check(nonce(i), NOW + i, NOW + 10)).toBe("replay");
      // 3..9 were refused, not remembered: still overload, not replay.
      for (let i = 3; i < 10; i++) expect(g.check(nonce(i), NOW + i, NOW + 10)).toBe("overload");
      // No floor: an earlier timestamp inside the window is refused for lack of room, not as stale.
      expect(g.check(nonce(1000), NOW - 5000, NOW + 10)).toBe("overload");
      expect(g.size).toBe(3);
    });

    test("room comes back only once the held nonces are stale; a refused nonce was not burnt", () => {
      const g = new ReplayGuard({ windowMs: 1000, maxEntries: 3 });
      for (let i = 0; i < 3; i++) expect(g.check(nonce(i), NOW + 1000, NOW)).toBe("ok");
      expect(g.check(nonce(3), NOW, NOW)).toBe("overload");
      // Timestamps NOW + 1000 are inside the window until NOW + 2000: held (and full) until then.
      for (const t of [NOW + 999, NOW + 1500, NOW + 2000]) {
        expect(g.check(nonce(0), NOW + 1000, t)).toBe("replay");
        expect(g.check(nonce(3), t, t)).toBe("overload");
      }
      expect(g.check(nonce(0), NOW + 1000, NOW + 2001)).toBe("stale");
      expect(g.check(nonce(3), NOW + 3000, NOW + 3000)).toBe("ok");
      expect(g.check(nonce(3), NOW + 3000, NOW + 3000)).toBe("replay");
    });

    test("a nonce is remembered until its timestamp is stale, however the generations fall", () => {
      // A packet at NOW - 999 starts the current generation; the nonce under test arrives at its very end,
      // carrying a timestamp as far ahead as the window allows.
      for (const warmUp of [undefined, NOW - 999, NOW - 500, NOW - 1]) {
        const g = new ReplayGuard({ windowMs: 1000 });
        if (warmUp !== undefined) expect(g.check(nonce(99), warmUp, warmUp)).toBe("ok");
        expect(g.check(nonce(1), NOW + 1000, NOW)).toBe("ok");
        for (let t = NOW; t <= NOW + 2000; t += 50) expect(g.check(nonce(1), NOW + 1000, t)).toBe("replay");
        expect(g.check(nonce(1), NOW + 1000, NOW + 2001)).toBe("stale");
      }
    });

    test("eviction with timestamps out of order still refuses every evicted nonce", () => {
      const g = new ReplayGuard({ maxEntries: 2 });
      const sent: [string, number][] = [
        [nonce(1), NOW + 50],
        [nonce(2), NOW + 10],
        [nonce(3), NOW + 90],
        [nonce(4), NOW + 20],
        [nonce(5), NOW + 95],
        [nonce(6), NOW + 96],
      ];
      const accepted = sent.filter(([n, ts]) => g.check(n, ts, NOW) === "ok");
      expect(g.size).toBeLessThanOrEqual(2);
      for (const [n, ts] of accepted) expect(g.check(n, ts, NOW)).not.toBe("ok");
    });
  });
});

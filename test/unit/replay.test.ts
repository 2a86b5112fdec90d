import { describe, expect, test } from "bun:test";
import { ReplayGuard } from "../../src/protocol/replay.ts";

const NOW = 1_700_000_000_000;
const nonce = (i: number) => i.toString(16).padStart(24, "0");

describe("ReplayGuard", () => {
  test("defaults: a two-minute window", () => {
    expect(new ReplayGuard().windowMs).toBe(120_000);
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
    test("size never exceeds maxEntries", () => {
      const g = new ReplayGuard({ maxEntries: 3 });
      for (let i = 0; i < 50; i++) {
        expect(g.check(nonce(i), NOW + i, NOW + i)).toBe("ok");
        expect(g.size).toBeLessThanOrEqual(3);
      }
      expect(g.size).toBe(3);
    });

    test("evicted nonces are still refused: the floor rises to their timestamp", () => {
      const g = new ReplayGuard({ maxEntries: 3 });
      for (let i = 0; i < 10; i++) g.check(nonce(i), NOW + i, NOW + 10);
      // 0..6 were evicted; replaying any of them (same authenticated timestamp) must fail.
      for (let i = 0; i < 7; i++) expect(g.check(nonce(i), NOW + i, NOW + 10)).not.toBe("ok");
      // 7..9 are still held.
      for (let i = 7; i < 10; i++) expect(g.check(nonce(i), NOW + i, NOW + 10)).toBe("replay");
      // A fresh nonce at or below the floor is refused too; above it, accepted.
      expect(g.check(nonce(1000), NOW + 6, NOW + 10)).toBe("stale");
      expect(g.check(nonce(1001), NOW + 7, NOW + 10)).toBe("ok");
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

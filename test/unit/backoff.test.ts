import { describe, expect, test } from "bun:test";
import { Backoff, type BackoffSchedule, grow } from "../../src/backoff.ts";
import { DEFAULT_PEER_TIMINGS as P } from "../../src/punch/config.ts";
import { DEFAULT_TIMINGS as S } from "../../src/rendezvous/core.ts";

/** Send times when every send is made the moment it is due, starting at 0. */
function sendTimes(s: BackoffSchedule, until: number): number[] {
  const b = new Backoff(s);
  const at: number[] = [];
  for (let t = 0; t <= until && b.due(t); t = b.sent(t)) at.push(t);
  return at;
}

describe("Backoff", () => {
  test.each<[string, BackoffSchedule, number, number[]]>([
    [
      "REGISTER (README: 250 ms, doubling up to 2 s)",
      { firstMs: P.registerRetryMs, factor: 2, maxMs: P.registerRetryMaxMs, maxTries: Infinity },
      10_000,
      [0, 250, 750, 1_750, 3_750, 5_750, 7_750, 9_750],
    ],
    [
      "MATCH (README: 200 ms, doubling to 2 s)",
      { firstMs: S.matchRetryMs, factor: 2, maxMs: S.matchRetryMaxMs, maxTries: Infinity },
      6_000,
      [0, 200, 600, 1_400, 3_000, 5_000],
    ],
    [
      "NAT probe: every 300 ms, 4 tries",
      { firstMs: 300, factor: 1, maxMs: 300, maxTries: 4 },
      10_000,
      [0, 300, 600, 900],
    ],
    [
      "STUN (RFC 8489: RTO 500 ms doubling, 7 tries)",
      { firstMs: 500, factor: 2, maxMs: Infinity, maxTries: 7 },
      60_000,
      [0, 500, 1_500, 3_500, 7_500, 15_500, 31_500],
    ],
    ["a single try", { firstMs: 100, factor: 2, maxMs: 100, maxTries: 1 }, 1_000, [0]],
  ])("%s", (_name, s, until, expected) => {
    expect(sendTimes(s, until)).toEqual(expected);
  });

  test("not due before its time; sent() says when; the last try leaves nothing due", () => {
    const b = new Backoff({ firstMs: 100, factor: 3, maxMs: 1_000, maxTries: 3 });
    expect([b.due(0), b.tries]).toEqual([true, 0]);
    expect(b.sent(10)).toBe(110);
    expect([b.due(109), b.due(110)]).toEqual([false, true]);
    expect(b.sent(110)).toBe(410);
    expect(b.sent(500)).toBe(Infinity);
    expect([b.due(1e9), b.tries]).toEqual([false, 3]);
  });

  test("now() makes the next send due at once without resetting the wait; grow() caps at maxMs", () => {
    const b = new Backoff({ firstMs: 100, factor: 2, maxMs: 1_000, maxTries: Infinity });
    b.sent(0);
    b.now();
    expect(b.due(1)).toBe(true);
    expect(b.sent(1)).toBe(201);
    expect(grow(b.schedule, 800)).toBe(1_000);
  });
});

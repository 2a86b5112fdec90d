import { describe, expect, test } from "bun:test";
import {
  choosePath,
  DEFAULT_PATH_TIMINGS as D,
  PathChooser,
  type PathView,
} from "../../../src/proxy/paths.ts";

const T = 1_000_000;
const view = (o: Partial<PathView>): PathView => ({
  current: "relay",
  relayReady: true,
  streak: 0,
  unanswered: 0,
  lastAnswerAt: undefined,
  since: T,
  holdUntil: T,
  ...o,
});

describe("choosePath", () => {
  test.each([
    ["relay, nothing answered: stay", view({}), T + 10_000, undefined],
    ["relay, 2 in a row: stay", view({ streak: 2 }), T + 10_000, undefined],
    ["relay, 3 in a row: direct", view({ streak: 3 }), T + 10_000, "direct"],
    ["relay, 3 in a row, held: stay", view({ streak: 3, holdUntil: T + 20_000 }), T + 19_999, undefined],
    [
      "relay, 3 in a row, hold over: direct",
      view({ streak: 3, holdUntil: T + 20_000 }),
      T + 20_000,
      "direct",
    ],
    ["direct, answering: stay", view({ current: "direct", lastAnswerAt: T + 9_000 }), T + 10_000, undefined],
    [
      "direct, 8 unanswered but an answer 2.9 s ago (loss, not death): stay",
      view({ current: "direct", unanswered: 8, lastAnswerAt: T + 7_100 }),
      T + 10_000,
      undefined,
    ],
    [
      "direct, silent 3 s but only 7 unanswered: stay",
      view({ current: "direct", unanswered: 7, lastAnswerAt: T + 7_000 }),
      T + 10_000,
      undefined,
    ],
    [
      "direct, silent 3 s and 8 unanswered: relay",
      view({ current: "direct", unanswered: 8, lastAnswerAt: T + 7_000 }),
      T + 10_000,
      "relay",
    ],
    [
      "direct, dead, but no relay to go to: stay",
      view({ current: "direct", unanswered: 20, lastAnswerAt: T, relayReady: false }),
      T + 60_000,
      undefined,
    ],
    [
      "direct, never answered since the switch: silent since the switch",
      view({ current: "direct", unanswered: 8, since: T + 7_000 }),
      T + 10_000,
      "relay",
    ],
  ] as const)("%s", (_, v, now, to) => {
    expect(choosePath(v, now)?.to).toBe(to);
  });

  test("the reasons say why", () => {
    expect(choosePath(view({ streak: 3 }), T)?.reason).toBe("3 probes answered in a row");
    expect(choosePath(view({ current: "direct", unanswered: 8, lastAnswerAt: T }), T + 4_200)?.reason).toBe(
      "no answer on the direct path for 4 s",
    );
  });

  test("the defaults are the documented ones", () => {
    expect(D).toEqual({
      probeMs: 500,
      probeMaxMs: 15_000,
      confirmMs: 200,
      upgradeAfter: 3,
      answerMs: 1_000,
      aliveMs: 1_000,
      suspectMs: 200,
      deadAfterMs: 3_000,
      lostAfter: 8,
      holdMs: 10_000,
      holdMaxMs: 300_000,
      stableMs: 60_000,
    });
  });
});

/** Runs the chooser as the driver does: a probe whenever one is due, answered when `answers(now)` says. */
function drive(c: PathChooser, from: number, to: number, answers: (now: number) => boolean, rttMs = 20) {
  const log: { at: number; to: string; reason: string }[] = [];
  const pending: { seq: number; at: number }[] = [];
  let sent = 0;
  for (let now = from; now <= to; now += 10) {
    for (const p of pending.splice(0)) {
      if (p.at <= now) c.answered(p.seq, now);
      else pending.push(p);
    }
    if (now >= c.nextProbeAt()) {
      const seq = c.probeSent(now);
      sent++;
      if (answers(now)) pending.push({ seq, at: now + rttMs });
    }
    const sw = c.step(now);
    if (sw) log.push({ at: sw.at, to: sw.to, reason: sw.reason });
  }
  return { log, sent };
}

describe("PathChooser", () => {
  test("relay first: the direct path is taken after 3 answers in a row, about half a second after the first", () => {
    const c = new PathChooser("relay", true, T);
    const { log } = drive(c, T, T + 5_000, () => true);
    expect(log).toEqual([{ at: T + 420, to: "direct", reason: "3 probes answered in a row" }]);
    expect([c.current, c.switches, c.last?.to]).toEqual(["direct", 1, "direct"]);
  });

  test("an unanswered direct path is probed ever more slowly, at most every 15 s", () => {
    const c = new PathChooser("relay", true, T);
    const probes: number[] = [];
    for (let now = T; now <= T + 120_000; now += 10) {
      if (now >= c.nextProbeAt()) probes.push(c.probeSent(now) >= 0 ? now - T : -1);
      c.step(now);
    }
    // 0, 500, 1250, 2380, ...: 1.5x per round, then every 15 s.
    expect(probes.slice(0, 4)).toEqual([0, 500, 1_250, 2_380]);
    const gaps = probes.slice(1).map((p, i) => p - (probes[i] as number));
    expect(Math.max(...gaps)).toBe(15_000);
    expect(probes.length).toBeLessThan(20);
    expect(c.current).toBe("relay");
  });

  test("the direct path dies: back to the relay about 3 s after its last answer, then held 10 s", () => {
    const c = new PathChooser("direct", true, T);
    const dies = T + 5_000;
    const { log } = drive(c, T, T + 12_000, (now) => now < dies);
    expect(log).toHaveLength(1);
    const back = log[0] as { at: number; to: string; reason: string };
    expect(back.to).toBe("relay");
    // The last answered probe went out before `dies`; the switch is 3 to 5 s after the death.
    expect(back.at - dies).toBeGreaterThanOrEqual(3_000);
    expect(back.at - dies).toBeLessThanOrEqual(5_000);
    expect(c.view.holdUntil).toBe(back.at + 10_000);
  });

  test("the direct path comes back: taken again only when the hold is over", () => {
    const c = new PathChooser("direct", true, T);
    const { log } = drive(c, T, T + 40_000, (now) => now < T + 5_000 || now >= T + 9_000);
    expect(log.map((l) => l.to)).toEqual(["relay", "direct"]);
    const [back, again] = log as unknown as [{ at: number }, { at: number }];
    expect(again.at).toBe(back.at + 10_000);
  });

  test("no flapping: a path dying every few seconds is held back 10, 20, 40 s", () => {
    const c = new PathChooser("direct", true, T);
    // Works 4 s, dead 6 s, over and over, for 2 minutes.
    const { log } = drive(c, T, T + 120_000, (now) => (now - T) % 10_000 < 4_000);
    const fallbacks = log.filter((l) => l.to === "relay");
    expect(fallbacks.length).toBeLessThanOrEqual(4);
    const holds = [];
    for (let i = 1; i < log.length; i++)
      if (log[i]?.to === "direct")
        holds.push((log[i] as { at: number }).at - (log[i - 1] as { at: number }).at);
    for (const [i, h] of holds.entries()) expect(h).toBeGreaterThanOrEqual(10_000 * 2 ** i);
  });

  test("no flapping under loss: 20% loss each way (36% of round trips) for 10 minutes moves nothing", () => {
    const c = new PathChooser("direct", true, T);
    let x = 12_345;
    const rand = () => {
      x = (x * 1_103_515_245 + 12_345) % 2 ** 31;
      return x / 2 ** 31;
    };
    const { log } = drive(c, T, T + 600_000, () => rand() >= 0.36);
    expect(log).toEqual([]);
  });

  test("dead with no relay ready: stays direct, probes slow down", () => {
    const c = new PathChooser("direct", false, T);
    const { log, sent } = drive(c, T, T + 120_000, (now) => now < T + 2_000);
    expect(log).toEqual([]);
    // Fast probes only until the path counts as dead (8 misses), then the unproven path's slow rounds.
    expect(sent).toBeLessThan(40);
    c.setRelayReady(true);
    for (let now = T + 120_010; now < T + 121_000; now += 10) c.step(now);
    expect(c.current).toBe("relay");
  });

  test("a late answer (after the miss) or one to an unknown probe counts for nothing", () => {
    const c = new PathChooser("relay", true, T);
    const seq = c.probeSent(T);
    c.step(T + 1_000); // missed
    expect(c.answered(seq, T + 1_001)).toBe(false);
    expect(c.answered(777, T + 1_001)).toBe(false);
    expect(c.view.streak).toBe(0);
  });

  test("nudge: the partner's probe brings the next one forward, to 200 ms after the last, from the first gap", () => {
    const c = new PathChooser("relay", true, T);
    for (let now = T; now < T + 30_000; now += 10) {
      if (now >= c.nextProbeAt()) c.probeSent(now);
      c.step(now);
    }
    const last = c.nextProbeAt();
    expect(last).toBeGreaterThan(T + 30_000);
    c.nudge();
    expect(c.nextProbeAt()).toBeLessThan(last);
    expect(c.nextProbeAt()).toBeLessThanOrEqual(T + 30_000);
    c.probeSent(T + 30_000);
    // The search starts over: the first gap, grown once by this probe.
    expect(c.nextProbeAt()).toBe(T + 30_000 + D.probeMs * 1.5);
    c.nudge();
    expect(c.nextProbeAt()).toBe(T + 30_000 + D.confirmMs);
  });

  test("nudge does nothing to a proven path: in use, or held after a fallback", () => {
    const inUse = new PathChooser("direct", true, T);
    inUse.probeSent(T);
    inUse.answered(0, T + 5);
    inUse.nudge();
    expect(inUse.nextProbeAt()).toBe(T + D.aliveMs);
    // Held: 3 answers on the relay within the hold.
    const held = new PathChooser("direct", true, T);
    const { log } = drive(held, T, T + 9_000, (now) => now < T + 1_000 || now >= T + 5_500);
    expect(log.map((l) => l.to)).toEqual(["relay"]);
    expect(held.view.streak).toBeGreaterThanOrEqual(D.upgradeAfter);
    const before = held.nextProbeAt();
    held.nudge();
    expect(held.nextProbeAt()).toBe(before);
  });

  test("two sides nudging each other on every probe stay at most 5 probes a second each", () => {
    const a = new PathChooser("relay", true, T);
    const b = new PathChooser("relay", true, T);
    let sent = 0;
    // Every probe reaches the other side at once (and nudges it); no PONG ever comes back (one-way path).
    for (let now = T; now <= T + 60_000; now += 1) {
      for (const [me, other] of [
        [a, b],
        [b, a],
      ] as const) {
        if (now >= me.nextProbeAt()) {
          me.probeSent(now);
          sent++;
          other.nudge();
        }
        me.step(now);
      }
    }
    expect(sent).toBeLessThanOrEqual(2 * 5 * 60 + 2);
    expect(sent).toBeGreaterThan(100); // the nudges did bring the probes forward
  });
});

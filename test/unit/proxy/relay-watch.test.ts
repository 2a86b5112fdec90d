import { describe, expect, test } from "bun:test";
import { DEFAULT_RELAY_WATCH, RELAY_SEQ_BASE, RelayWatch } from "../../../src/proxy/relay-watch.ts";

const T = 1_000_000;

describe("RelayWatch", () => {
  test("the defaults are the documented ones", () => {
    expect(DEFAULT_RELAY_WATCH).toEqual({ inUseMs: 1_000, idleMs: 15_000, answerMs: 1_000, lostAfter: 3 });
  });

  test.each([
    ["unused", false, 15_000],
    ["in use", true, 1_000],
  ])("%s: the next probe %p ms after the last", (_, inUse, gap) => {
    const w = new RelayWatch(T);
    expect(w.nextProbeAt(inUse)).toBe(T + gap);
    w.probeSent(T + gap);
    expect(w.nextProbeAt(inUse)).toBe(T + 2 * gap);
  });

  test("answered probes keep it; three misses in a row lose it, and the probes go a second apart from the first miss", () => {
    const w = new RelayWatch(T);
    const s0 = w.probeSent(T + 15_000);
    expect(s0).toBe(RELAY_SEQ_BASE);
    expect(w.answered(s0)).toBe(true);
    expect(w.answered(s0)).toBe(false); // once
    w.probeSent(T + 30_000);
    w.step(T + 30_999);
    expect(w.misses).toBe(0);
    w.step(T + 31_000);
    expect([w.misses, w.lost, w.nextProbeAt(false)]).toEqual([1, false, T + 31_000]);
    w.probeSent(T + 31_000);
    w.step(T + 32_000);
    w.probeSent(T + 32_000);
    w.step(T + 33_000);
    expect([w.misses, w.lost]).toEqual([3, true]);
    // Lost: probed only every idleMs, in use or not (the driver binds again meanwhile).
    expect([w.nextProbeAt(true), w.nextProbeAt(false)]).toEqual([T + 47_000, T + 47_000]);
    // An answer (a late PONG of a probe still out) or a new binding brings it back.
    const s = w.probeSent(T + 33_000);
    w.answered(s);
    expect(w.lost).toBe(false);
    w.probeSent(T + 34_000);
    w.step(T + 40_000);
    w.reset(T + 40_000);
    expect([w.misses, w.nextProbeAt(false)]).toEqual([0, T + 55_000]);
  });

  test("wakeAt: the next probe, or a probe's answer time if sooner", () => {
    const w = new RelayWatch(T);
    expect(w.wakeAt(false)).toBe(T + 15_000);
    w.probeSent(T + 15_000);
    expect(w.wakeAt(false)).toBe(T + 16_000);
    expect(w.wakeAt(true)).toBe(T + 16_000);
  });
});

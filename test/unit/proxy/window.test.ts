import { describe, expect, test } from "bun:test";
import { REPLAY_WINDOW, SequenceWindow } from "../../../src/proxy/window.ts";

describe("SequenceWindow", () => {
  test("each number is taken once; the highest yet is newest, a late one within the window is ok", () => {
    const w = new SequenceWindow();
    expect([0, 1, 1, 5, 3, 3, 2, 0].map((s) => w.check(s))).toEqual([
      "newest",
      "newest",
      "replay",
      "newest",
      "ok",
      "replay",
      "ok",
      "replay",
    ]);
  });

  test("a number REPLAY_WINDOW below the highest is stale; one less below is still taken", () => {
    const w = new SequenceWindow();
    const top = REPLAY_WINDOW + 10;
    expect(w.check(top)).toBe("newest");
    expect(w.check(top - REPLAY_WINDOW)).toBe("stale");
    expect(w.check(top - REPLAY_WINDOW + 1)).toBe("ok");
    expect(w.check(top - REPLAY_WINDOW + 1)).toBe("replay");
  });

  test("moving the window forgets the slots it passes over, so their new numbers are taken", () => {
    const w = new SequenceWindow();
    for (let s = 0; s < REPLAY_WINDOW; s++) expect(w.check(s)).toBe("newest");
    // s + REPLAY_WINDOW shares s's slot: it is new, not a replay of s.
    expect(w.check(REPLAY_WINDOW + 3)).toBe("newest");
    expect(w.check(REPLAY_WINDOW + 1)).toBe("ok");
    expect(w.check(REPLAY_WINDOW + 2)).toBe("ok");
    expect(w.check(REPLAY_WINDOW + 2)).toBe("replay");
    expect(w.check(3)).toBe("stale");
  });

  test("a jump of more than a window clears everything; numbers up to 2^53 work", () => {
    const w = new SequenceWindow();
    expect(w.check(5)).toBe("newest");
    const far = Number.MAX_SAFE_INTEGER - 1;
    expect(w.check(far)).toBe("newest");
    expect(w.check(far - 1)).toBe("ok");
    expect(w.check(far - 1)).toBe("replay");
    expect(w.check(5)).toBe("stale");
  });
});

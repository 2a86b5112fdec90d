import { describe, expect, test } from "bun:test";
import { BUCKET_MS, DeadlineIndex } from "../../../src/rendezvous/deadlines.ts";

/** An index over a map of deadlines, moved as the map changes (as the memory store does). */
function indexed() {
  const at = new Map<string, number>();
  const index = new DeadlineIndex((k) => at.get(k));
  const set = (k: string, t: number | undefined) => {
    index.move(k, at.get(k), t);
    if (t === undefined) at.delete(k);
    else at.set(k, t);
  };
  return { index, set, due: (now: number) => index.due(now).sort() };
}

describe("DeadlineIndex", () => {
  test("within one bucket, a key is due exactly from its deadline on", () => {
    const { set, due } = indexed();
    set("x", 10 * BUCKET_MS + 30);
    set("y", 10 * BUCKET_MS + 31);
    expect(due(10 * BUCKET_MS + 29)).toEqual([]);
    expect(due(10 * BUCKET_MS + 30)).toEqual(["x"]);
    expect(due(10 * BUCKET_MS + 31)).toEqual(["x", "y"]);
  });

  test("keys of earlier buckets are all due; a due key stays until it is moved", () => {
    const { set, due } = indexed();
    for (let i = 0; i < 50; i++) set(`k${i}`, i * 37);
    expect(due(49 * 37)).toHaveLength(50);
    expect(due(49 * 37)).toHaveLength(50);
    for (let i = 0; i < 25; i++) set(`k${i}`, undefined);
    expect(due(1e9)).toHaveLength(25);
  });

  test("a key moved later leaves its old bucket, one moved sooner is found sooner", () => {
    const { set, due } = indexed();
    set("refreshed", 1_000);
    set("refreshed", 46_000);
    set("retry", 60_000);
    set("retry", 200);
    expect(due(1_000)).toEqual(["retry"]);
    set("retry", undefined);
    expect(due(45_999)).toEqual([]);
    expect(due(46_000)).toEqual(["refreshed"]);
  });

  test("a bucket emptied and filled again is reported once", () => {
    const { set, due } = indexed();
    set("a", 500);
    set("a", undefined);
    set("b", 510);
    set("c", 520);
    expect(due(600)).toEqual(["b", "c"]);
    expect(due(600)).toEqual(["b", "c"]);
  });

  test("matches a sort of every key's deadline, over random moves", () => {
    const { set, due } = indexed();
    const truth = new Map<string, number>();
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed % n;
    };
    for (let step = 0; step < 2_000; step++) {
      const k = `k${rand(100)}`;
      const t = rand(10) === 0 ? undefined : rand(60_000);
      set(k, t);
      if (t === undefined) truth.delete(k);
      else truth.set(k, t);
      if (step % 50 === 0) {
        const now = rand(60_000);
        const want = [...truth].filter(([, d]) => d <= now).map(([key]) => key);
        expect(due(now)).toEqual(want.sort());
      }
    }
  });
});

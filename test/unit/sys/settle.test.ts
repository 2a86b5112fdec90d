// settleOnce on a ManualClock: which of value, deadline and abort wins, that it settles once, and that the
// timer, the listener and the deferred cleanups are gone afterwards.
import { describe, expect, test } from "bun:test";
import { ManualClock } from "../../../src/sys/clock.ts";
import { settleOnce, sleep } from "../../../src/sys/settle.ts";

const T0 = 1_000_000;

type Event = { at: number; what: "value" | "error" | "abort" };

interface Row {
  name: string;
  /** Deadline, relative to T0; none: no deadline. */
  deadline?: number;
  /** Aborted before settleOnce is called. */
  preAborted?: boolean;
  events: Event[];
  /** What the promise settles with, and when (relative to T0). */
  expected: { outcome: string; at: number };
}

const rows: Row[] = [
  {
    name: "a value before the deadline",
    deadline: 100,
    events: [{ at: 40, what: "value" }],
    expected: { outcome: "value", at: 40 },
  },
  {
    name: "the deadline before a value",
    deadline: 100,
    events: [{ at: 150, what: "value" }],
    expected: { outcome: "deadline", at: 100 },
  },
  {
    name: "an error before the deadline",
    deadline: 100,
    events: [{ at: 10, what: "error" }],
    expected: { outcome: "error", at: 10 },
  },
  {
    name: "an abort before the value",
    deadline: 100,
    events: [
      { at: 20, what: "abort" },
      { at: 30, what: "value" },
    ],
    expected: { outcome: "aborted", at: 20 },
  },
  {
    name: "a value, then an abort: the value stays",
    deadline: 100,
    events: [
      { at: 20, what: "value" },
      { at: 30, what: "abort" },
    ],
    expected: { outcome: "value", at: 20 },
  },
  {
    name: "two values: the first",
    events: [
      { at: 5, what: "value" },
      { at: 6, what: "error" },
    ],
    expected: { outcome: "value", at: 5 },
  },
  {
    name: "no deadline: only the abort ends it",
    events: [{ at: 5_000, what: "abort" }],
    expected: { outcome: "aborted", at: 5_000 },
  },
  {
    name: "aborted already: settles at once",
    deadline: 100,
    preAborted: true,
    events: [{ at: 10, what: "value" }],
    expected: { outcome: "aborted", at: 0 },
  },
  {
    name: "a deadline already past: at the next tick",
    deadline: -5,
    events: [{ at: 10, what: "value" }],
    expected: { outcome: "deadline", at: 0 },
  },
];

describe("settleOnce", () => {
  test.each(rows)("$name", async (row) => {
    const clock = new ManualClock(T0);
    const ac = new AbortController();
    if (row.preAborted) ac.abort();
    let outcome: { outcome: string; at: number } | undefined;
    let cleanups = 0;
    let resolveOut: (v: string) => void = () => {};
    let rejectOut: (e: unknown) => void = () => {};
    const p = settleOnce<string>(
      {
        clock,
        deadline: row.deadline === undefined ? undefined : T0 + row.deadline,
        signal: ac.signal,
        onDeadline: () => "deadline",
        onAbort: () => {
          throw new Error("aborted");
        },
      },
      (s) => {
        resolveOut = s.resolve;
        rejectOut = s.reject;
        s.defer(() => cleanups++);
      },
    ).then(
      (v) => {
        outcome = { outcome: v, at: clock.now() - T0 };
      },
      (e: Error) => {
        outcome = { outcome: e.message === "aborted" ? "aborted" : "error", at: clock.now() - T0 };
      },
    );
    for (const e of row.events) {
      clock.setTimer(e.at, () => {
        if (e.what === "value") resolveOut("value");
        else if (e.what === "error") rejectOut(new Error("error"));
        else ac.abort();
      });
    }
    // Settle what is due at each step before moving on, so `at` is the time the promise settled.
    const ticks = async () => {
      for (let i = 0; i < 4; i++) await Promise.resolve();
    };
    await ticks();
    while (clock.fireNext()) await ticks();
    await p;
    expect(outcome).toEqual(row.expected);
    // Aborted already: the body never ran, so it deferred nothing.
    expect(cleanups).toBe(row.preAborted ? 0 : 1);
    expect(clock.size).toBe(0);
  });

  test("the deadline timer and the abort listener are removed once settled", async () => {
    const clock = new ManualClock(T0);
    const ac = new AbortController();
    const added: string[] = [];
    const removed: string[] = [];
    const signal = ac.signal;
    const add = signal.addEventListener.bind(signal);
    const remove = signal.removeEventListener.bind(signal);
    signal.addEventListener = ((type: string, ...rest: never[]) => {
      added.push(type);
      return (add as (...a: unknown[]) => void)(type, ...rest);
    }) as typeof signal.addEventListener;
    signal.removeEventListener = ((type: string, ...rest: never[]) => {
      removed.push(type);
      return (remove as (...a: unknown[]) => void)(type, ...rest);
    }) as typeof signal.removeEventListener;
    const v = await settleOnce({ clock, deadline: T0 + 1_000, signal }, (s) => {
      expect(clock.size).toBe(1);
      s.resolve(7);
    });
    expect(v).toBe(7);
    expect(clock.size).toBe(0);
    expect([added, removed]).toEqual([["abort"], ["abort"]]);
  });

  test("the settler's signal aborts once settled; defer after settling runs at once; cleanups in reverse", async () => {
    const clock = new ManualClock(T0);
    const order: number[] = [];
    let inner: AbortSignal | undefined;
    let late: (() => void) | undefined;
    await settleOnce({ clock }, (s) => {
      inner = s.signal;
      s.defer(() => order.push(1));
      s.defer(() => {
        throw new Error("a failing cleanup");
      });
      s.defer(() => order.push(3));
      late = () => s.defer(() => order.push(4));
      expect(s.settled).toBe(false);
      s.resolve(undefined);
      expect(s.settled).toBe(true);
    });
    expect(inner?.aborted).toBe(true);
    late?.();
    expect(order).toEqual([3, 1, 4]);
  });

  test("a body that throws rejects", async () => {
    const clock = new ManualClock(T0);
    await expect(
      settleOnce({ clock, deadline: T0 + 10 }, () => {
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect(clock.size).toBe(0);
  });
});

describe("sleep", () => {
  test("resolves after ms on the clock, or at the abort", async () => {
    const clock = new ManualClock(T0);
    let at: number | undefined;
    const p = sleep(clock, 250).then(() => {
      at = clock.now() - T0;
    });
    clock.advanceTo(T0 + 249);
    await Promise.resolve();
    expect(at).toBeUndefined();
    clock.advanceTo(T0 + 250);
    await p;
    expect(at).toBe(250);

    const ac = new AbortController();
    const q = sleep(clock, 10_000, ac.signal);
    ac.abort();
    await q;
    expect(clock.size).toBe(0);
  });
});

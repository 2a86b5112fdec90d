import { describe, expect, test } from "bun:test";
import {
  ADDRESS_REPUNCH_GAP_MS,
  type SupervisorAction,
  type SupervisorInput,
  TunnelSupervisor,
} from "../../../src/up/supervisor.ts";
import { RESULT, T0 } from "./support.ts";

const TIMEOUT = { code: "E_TIMEOUT", message: "no partner" };
const BAD_SECRET = { code: "E_SECRET", message: "the secret is empty" };

/** The actions of one step without the log lines (asserted on their own where they matter). */
const work = (actions: SupervisorAction[]) => actions.filter((a) => a.kind !== "log");

/** A supervisor with a step() that also records what it was fed. */
function started(now = T0) {
  const m = new TunnelSupervisor(now);
  const step = (i: SupervisorInput) => m.step(i);
  const first = step({ type: "start", now });
  return { m, step, first };
}

/** Up at T0 + 100: started, registered, matched, punched. */
function up() {
  const s = started();
  s.step({ type: "waiting", now: T0 + 10 });
  s.step({ type: "matched", now: T0 + 50 });
  const out = s.step({ type: "punched", now: T0 + 100, result: RESULT });
  return { ...s, out };
}

describe("TunnelSupervisor: one tunnel's rounds as a pure machine", () => {
  test("start punches; waiting and matched move the state; punched starts the tunnel and records the path", () => {
    const { m, step, first } = started();
    expect(m.status()).toMatchObject({ state: "punching", since: T0, rounds: 1 });
    expect(work(first.actions)).toEqual([{ kind: "punch" }]);
    expect(first.wakeAt).toBeUndefined();
    step({ type: "waiting", now: T0 + 10 });
    expect(m.status()).toMatchObject({ state: "waiting", since: T0 + 10 });
    step({ type: "matched", now: T0 + 50 });
    expect(m.status()).toMatchObject({ state: "punching", since: T0 + 50 });
    const out = step({ type: "punched", now: T0 + 100, result: RESULT });
    expect(out.actions).toEqual([{ kind: "tunnel", result: RESULT }]);
    expect(m.status()).toEqual({
      state: "up",
      since: T0 + 100,
      upSince: T0 + 100,
      path: "direct",
      local: "0.0.0.0:51820",
      remote: "203.0.113.9:40000",
      rttMs: 12,
      rounds: 1,
      repunches: 0,
    });
  });

  test("a tunnel that ends backs off 1 s, then re-punches on the tick; the next loss waits 2 s", () => {
    const { m, step } = up();
    const lost = step({
      type: "tunnel-ended",
      now: T0 + 5_000,
      reason: "WireGuard handshake older than 180 s",
    });
    expect(work(lost.actions)).toEqual([]);
    expect(lost.actions).toEqual([
      {
        kind: "log",
        level: "warn",
        message: "the tunnel ended (WireGuard handshake older than 180 s); punching again; next round in 1 s",
      },
    ]);
    expect(lost.wakeAt).toBe(T0 + 6_000);
    expect(m.status()).toMatchObject({ state: "backing-off", retryAt: T0 + 6_000, path: "direct" });
    expect(m.status().upSince).toBeUndefined();
    expect(work(step({ type: "tick", now: T0 + 5_999 }).actions)).toEqual([]);
    const again = step({ type: "tick", now: T0 + 6_000 });
    expect(work(again.actions)).toEqual([{ kind: "punch" }]);
    expect(m.status()).toMatchObject({ state: "punching", rounds: 2, repunches: 1 });
    step({ type: "punched", now: T0 + 7_000, result: RESULT });
    const second = step({ type: "tunnel-ended", now: T0 + 8_000, reason: "wireguard-go exited with code 1" });
    expect(second.wakeAt).toBe(T0 + 10_000); // 2 s: the tunnel was up 1 s, not a healthy round
  });

  test("a tunnel that was up a healthy minute starts the pauses over at 1 s", () => {
    const { step } = up();
    // Three quick losses: 1, 2, 4 s.
    let t = T0 + 1_000;
    for (const pause of [1_000, 2_000, 4_000]) {
      expect(step({ type: "tunnel-ended", now: t, reason: "exit" }).wakeAt).toBe(t + pause);
      t += pause;
      step({ type: "tick", now: t });
      step({ type: "punched", now: t, result: RESULT });
    }
    // Up for 60 s this time.
    expect(step({ type: "tunnel-ended", now: t + 60_000, reason: "exit" }).wakeAt).toBe(t + 61_000);
  });

  test("a retryable punch failure backs off doubling to at most 60 s, and keeps the last error", () => {
    const { m, step } = started();
    let t = T0;
    const waits: number[] = [];
    for (let i = 0; i < 9; i++) {
      const out = step({ type: "punch-failed", now: t, error: TIMEOUT, retryable: true });
      waits.push((out.wakeAt ?? 0) - t);
      t = out.wakeAt ?? t;
      expect(work(step({ type: "tick", now: t }).actions)).toEqual([{ kind: "punch" }]);
    }
    expect(waits).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000]);
    expect(m.status()).toMatchObject({ rounds: 10, repunches: 0, lastError: TIMEOUT });
  });

  test("a non-retryable failure stays failed: no timer, ticks and address changes start nothing", () => {
    const { m, step } = started();
    const out = step({ type: "punch-failed", now: T0 + 100, error: BAD_SECRET, retryable: false });
    expect(out.wakeAt).toBeUndefined();
    expect(out.actions).toEqual([
      {
        kind: "log",
        level: "error",
        message: "failed: [E_SECRET] the secret is empty; not retrying (a retry would fail the same way)",
      },
    ]);
    expect(m.status()).toMatchObject({ state: "failed", lastError: BAD_SECRET, rounds: 1 });
    for (let t = T0 + 1_000; t < T0 + 600_000; t += 10_000) {
      expect(step({ type: "tick", now: t }).actions).toEqual([]);
      expect(step({ type: "addresses-changed", now: t + 1 }).actions).toEqual([]);
    }
    expect(m.status()).toMatchObject({ state: "failed", rounds: 1 });
  });

  test("a failed tunnel is retried by an explicit start, with the pauses from the first again", () => {
    const { m, step } = started();
    step({ type: "punch-failed", now: T0, error: TIMEOUT, retryable: true });
    step({ type: "tick", now: T0 + 1_000 });
    step({
      type: "punch-failed",
      now: T0 + 1_000,
      error: { code: "E_PIN_MISMATCH", message: "key changed" },
      retryable: false,
    });
    expect(m.status().state).toBe("failed");
    expect(work(step({ type: "start", now: T0 + 50_000 }).actions)).toEqual([{ kind: "punch" }]);
    expect(step({ type: "punch-failed", now: T0 + 51_000, error: TIMEOUT, retryable: true }).wakeAt).toBe(
      T0 + 52_000,
    );
  });

  test("a tunnel that ends with a non-retryable error fails; one with a retryable error backs off", () => {
    const a = up();
    a.step({
      type: "tunnel-ended",
      now: T0 + 200,
      reason: "bad option",
      error: { code: "E_USAGE", message: "bad option" },
      retryable: false,
    });
    expect(a.m.status()).toMatchObject({ state: "failed", lastError: { code: "E_USAGE" } });
    const b = up();
    const out = b.step({
      type: "tunnel-ended",
      now: T0 + 200,
      reason: "openvpn exited",
      error: { code: "E_HOOK", message: "openvpn exited" },
      retryable: true,
    });
    expect(out.wakeAt).toBe(T0 + 1_200);
    expect(b.m.status()).toMatchObject({ state: "backing-off", lastError: { code: "E_HOOK" } });
  });

  test("an address change while up aborts the tunnel, then re-punches as soon as it has ended, with no backoff", () => {
    const { m, step } = up();
    const out = step({ type: "addresses-changed", now: T0 + 10_000 });
    expect(work(out.actions)).toEqual([{ kind: "abort" }]);
    expect(m.busy).toBe(true);
    // The tunnel's end comes back: the next round starts in this same step, not after a pause.
    const end = step({ type: "tunnel-ended", now: T0 + 10_050, reason: "aborted" });
    expect(work(end.actions)).toEqual([{ kind: "punch" }]);
    expect(end.wakeAt).toBeUndefined();
    expect(m.status()).toMatchObject({ state: "punching", rounds: 2, repunches: 1 });
  });

  test("an address change while backing off punches at once; while punching it aborts and re-punches", () => {
    const a = up();
    a.step({ type: "tunnel-ended", now: T0 + 1_000, reason: "exit" });
    expect(work(a.step({ type: "addresses-changed", now: T0 + 1_100 }).actions)).toEqual([{ kind: "punch" }]);
    const b = started();
    expect(work(b.step({ type: "addresses-changed", now: T0 + 100 }).actions)).toEqual([{ kind: "abort" }]);
    // The aborted punch may still report either way; it is not taken for this round's outcome.
    const end = b.step({ type: "punched", now: T0 + 120, result: RESULT });
    expect(work(end.actions)).toEqual([{ kind: "punch" }]);
    expect(b.m.status()).toMatchObject({ state: "punching", rounds: 2 });
  });

  test("address changes in quick succession re-punch at most once per gap, however often they come", () => {
    const { step } = up();
    const aborts: number[] = [];
    let wake: number | undefined;
    // A driver whose jobs end at once: an aborted tunnel ends, a punch succeeds, in the same instant.
    const feed = (first: SupervisorInput) => {
      const queue = [first];
      for (let input = queue.shift(); input; input = queue.shift()) {
        const out = step(input);
        wake = out.wakeAt;
        const now = input.now;
        for (const a of out.actions) {
          if (a.kind === "abort") {
            aborts.push(now - T0);
            queue.push({ type: "tunnel-ended", now, reason: "aborted" });
          }
          if (a.kind === "punch") queue.push({ type: "punched", now, result: RESULT });
        }
      }
    };
    feed({ type: "addresses-changed", now: T0 + 1_000 });
    // Then an interface that flaps every 100 ms for 20 s.
    for (let t = T0 + 1_100; t < T0 + 21_100; t += 100) {
      if (wake !== undefined && wake <= t) feed({ type: "tick", now: wake });
      feed({ type: "addresses-changed", now: t });
    }
    const gap = ADDRESS_REPUNCH_GAP_MS;
    expect(aborts).toEqual([1_000, 1_000 + gap, 1_000 + 2 * gap, 1_000 + 3 * gap, 1_000 + 4 * gap]);
  });

  test("stop while punching aborts, and the round's end starts nothing", () => {
    const { m, step } = started();
    expect(work(step({ type: "stop", now: T0 + 10 }).actions)).toEqual([{ kind: "abort" }]);
    expect(m.status().state).toBe("stopped");
    expect(m.busy).toBe(true);
    const end = step({
      type: "punch-failed",
      now: T0 + 20,
      error: { code: "E_ABORTED", message: "aborted" },
      retryable: false,
    });
    expect(end).toEqual({ actions: [], wakeAt: undefined });
    expect(m.busy).toBe(false);
    expect(m.status().lastError).toBeUndefined();
  });

  test("stop while up aborts the tunnel; its end starts nothing", () => {
    const { m, step } = up();
    expect(work(step({ type: "stop", now: T0 + 500 }).actions)).toEqual([{ kind: "abort" }]);
    expect(step({ type: "tunnel-ended", now: T0 + 510, reason: "aborted" })).toEqual({
      actions: [],
      wakeAt: undefined,
    });
    expect(m.status()).toMatchObject({ state: "stopped", rounds: 1 });
    expect(m.busy).toBe(false);
  });

  test("stop while backing off cancels the pending round: no timer, no punch", () => {
    const { m, step } = started();
    step({ type: "punch-failed", now: T0, error: TIMEOUT, retryable: true });
    const out = step({ type: "stop", now: T0 + 10 });
    expect(out).toEqual({ actions: [], wakeAt: undefined });
    expect(step({ type: "tick", now: T0 + 5_000 }).actions).toEqual([]);
    expect(m.status()).toMatchObject({ state: "stopped", rounds: 1 });
    expect(m.status().retryAt).toBeUndefined();
  });

  test("events from a round that is no longer running change nothing", () => {
    const { m, step } = up();
    step({ type: "waiting", now: T0 + 200 });
    step({ type: "matched", now: T0 + 200 });
    step({ type: "punch-failed", now: T0 + 200, error: TIMEOUT, retryable: true });
    expect(m.status()).toMatchObject({ state: "up", rounds: 1 });
    expect(m.status().lastError).toBeUndefined();
  });
});

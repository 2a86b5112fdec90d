// "Settle once with a deadline and a signal": the shape every exchange with a remote party has (wait for an
// answer, give up at a deadline, give up when the caller aborts), written once so that none of them can
// settle twice, forget to clear its timer, or leave its abort listener on a long-lived signal.
import { type Clock, systemClock } from "./clock.ts";

/** What the body of settleOnce() gets: ways to settle, and to register what must be undone then. */
export interface Settler<T> {
  resolve(value: T): void;
  reject(error: unknown): void;
  /** Runs `fn` once settled, however that happened; the last registered runs first. */
  defer(fn: () => void): void;
  /** Aborted once settled: pass it to fetch() and the like, so their work stops with the wait. */
  readonly signal: AbortSignal;
  /** True once settled: timers the body armed can check it instead of keeping a flag of their own. */
  readonly settled: boolean;
}

export interface SettleOptions<T> {
  /** The time and the timers the deadline is armed on. @default systemClock */
  clock?: Clock;
  /** When to give up, in `clock.now()` time; none: wait for a value or the signal only. */
  deadline?: number;
  /** The caller's: aborting settles at once (also when it is aborted already). */
  signal?: AbortSignal;
  /** What the deadline settles with: a value, or reject by throwing. */
  onDeadline?: () => T;
  /** What an abort settles with: a value, or reject by throwing. @default onDeadline */
  onAbort?: () => T;
}

/**
 * A promise that settles exactly once, on the first of: the body's resolve/reject, the deadline (on the
 * injected clock), the signal's abort. Then the deadline timer is cancelled, the abort listener removed and
 * the deferred cleanups run (in reverse order, each even if another throws), before the promise settles.
 * @example
 * const reply = await settleOnce({ clock, deadline: clock.now() + 1_500, signal, onDeadline: () => undefined },
 *   (s) => s.defer(socket.onMessage((m) => s.resolve(m))));
 */
export function settleOnce<T>(o: SettleOptions<T>, body: (s: Settler<T>) => void): Promise<T> {
  const clock = o.clock ?? systemClock;
  return new Promise<T>((resolve, reject) => {
    const cleanups: (() => void)[] = [];
    const stop = new AbortController();
    let settled = false;
    const finish = (how: () => void) => {
      if (settled) return;
      settled = true;
      o.signal?.removeEventListener("abort", onAbort);
      stop.abort();
      for (const fn of cleanups.splice(0).reverse()) {
        try {
          fn();
        } catch {
          // A failing cleanup (a socket closed twice) must not keep the others from running.
        }
      }
      how();
    };
    const settleWith = (produce: (() => T) | undefined) => () =>
      finish(() => {
        try {
          resolve((produce ?? (() => undefined as T))());
        } catch (e) {
          reject(e);
        }
      });
    const onAbort = settleWith(o.onAbort ?? o.onDeadline);
    const s: Settler<T> = {
      resolve: (v) => finish(() => resolve(v)),
      reject: (e) => finish(() => reject(e)),
      defer: (fn) => {
        if (settled) fn();
        else cleanups.push(fn);
      },
      signal: stop.signal,
      get settled() {
        return settled;
      },
    };
    if (o.signal?.aborted) return onAbort();
    if (o.deadline !== undefined) {
      const cancel = clock.setTimer(o.deadline - clock.now(), settleWith(o.onDeadline));
      cleanups.push(cancel);
    }
    o.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      body(s);
    } catch (e) {
      s.reject(e);
    }
  });
}

/** Waits `ms` on `clock`; an abort ends the wait early (it resolves: the caller checks its signal). */
export const sleep = (clock: Clock, ms: number, signal?: AbortSignal): Promise<void> =>
  settleOnce<void>({ clock, deadline: clock.now() + ms, signal }, () => {});

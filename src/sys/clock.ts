/**
 * Time, passed in: the drivers (connect, serve, doctor) read the time and arm timers only through a Clock, so
 * a simulation can run them on a fake one (ManualClock) with no real waiting and the same result every run.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `fn` once after `ms`; returns a function that cancels it (a no-op once it has fired). */
  setTimer(ms: number, fn: () => void, o?: TimerOptions): () => void;
}

export interface TimerOptions {
  /**
   * Background work (port mapping renewals): the timer alone does not keep the process alive, so a program
   * that is otherwise done can exit. A fake clock has no process to keep alive and ignores it.
   */
  unref?: boolean;
}

/** The most setTimeout/setInterval can wait, in ms: a signed 32-bit count; a longer delay fires after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The longest any seconds option may be, the CLI's and the built-in hooks' alike: 24 days, a round number
 * below MAX_TIMER_MS (about 24.8 days), so no option can arm a timer that fires at once and then every
 * millisecond (a 30-day stats interval once did).
 */
export const MAX_SECONDS = 24 * 86_400;

/** The host's clock and timers: what the drivers use unless told otherwise. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(ms, fn, o) {
    const t = setTimeout(fn, Math.max(0, ms));
    if (o?.unref) t.unref?.();
    return () => clearTimeout(t);
  },
};

/**
 * Calls `fn` every `ms` until cancelled (setInterval on any Clock). Each period is armed when the previous one
 * fires, so a slow `fn` delays the next call rather than piling calls up.
 */
export function every(clock: Clock, ms: number, fn: () => void): () => void {
  let cancel: () => void = () => {};
  let stopped = false;
  const arm = () => {
    cancel = clock.setTimer(ms, () => {
      if (stopped) return;
      arm(); // before fn: an fn that cancels stops the next period too
      fn();
    });
  };
  arm();
  return () => {
    stopped = true;
    cancel();
  };
}

interface Pending {
  at: number;
  order: number;
  fn: () => void;
}

/**
 * A clock that moves only when told to: timers fire in order of their time, and timers due at the same time
 * in the order they were armed, so a run is the same every time.
 */
export class ManualClock implements Clock {
  private t: number;
  private order = 0;
  private readonly pending: Pending[] = [];

  constructor(start: number) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimer(ms: number, fn: () => void): () => void {
    const p: Pending = { at: this.t + Math.max(0, ms), order: this.order++, fn };
    // Sorted insert from the end: most timers are armed for later than every pending one.
    let i = this.pending.length;
    while (i > 0 && before(p, this.pending[i - 1] as Pending)) i--;
    this.pending.splice(i, 0, p);
    return () => {
      const at = this.pending.indexOf(p);
      if (at >= 0) this.pending.splice(at, 1);
    };
  }

  /** When the next timer is due; undefined when none is armed. */
  nextAt(): number | undefined {
    return this.pending[0]?.at;
  }

  /** Moves to the next timer's time (never back) and fires it; false when none is armed. */
  fireNext(): boolean {
    const p = this.pending.shift();
    if (!p) return false;
    this.t = Math.max(this.t, p.at);
    p.fn();
    return true;
  }

  /** Fires every timer due by `at` (including those armed meanwhile), then stands at `at`. */
  advanceTo(at: number): void {
    while ((this.nextAt() ?? Number.POSITIVE_INFINITY) <= at) this.fireNext();
    this.t = Math.max(this.t, at);
  }

  get size(): number {
    return this.pending.length;
  }
}

const before = (x: Pending, y: Pending): boolean => x.at < y.at || (x.at === y.at && x.order < y.order);

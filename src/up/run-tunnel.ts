import { NetpunchError } from "../errors.ts";
import type { Clock } from "../sys/clock.ts";
import type { NetpunchEvent, PunchResult } from "../types.ts";
import { RETRYABLE_CODES } from "./retry.ts";
import {
  type SupervisorAction,
  type SupervisorInput,
  type TunnelError,
  type TunnelStatus,
  TunnelSupervisor,
} from "./supervisor.ts";

/**
 * What one tunnel does, injected: `up` makes it from connect() and the hooks, tests from fakes. Both must end
 * soon after their signal is aborted (the supervisor waits for that before the next round).
 */
export interface TunnelJob {
  /**
   * One punch round; `onEvent` takes connect()'s events: `waiting`, `still-waiting` and `partner-lost` show the
   * tunnel as waiting for its partner, `matched` as punching; the rest are the caller's to log.
   */
  punch(signal: AbortSignal, onEvent: (e: NetpunchEvent) => void): Promise<PunchResult>;
  /**
   * Runs the tunnel until it is no longer alive (its program exited, its handshake went stale) or `signal` is
   * aborted. Returns why it ended, in words, when it knows; throws a NetpunchError for a failure.
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: a job that knows no reason is a plain async function
  tunnel(result: PunchResult, signal: AbortSignal): Promise<string | void>;
}

/** Subscribes to the host's address changes; returns the unsubscribe (addresses.ts AddressWatcher.subscribe). */
export type SubscribeAddresses = (listener: () => void) => () => void;

export interface RunTunnelOptions {
  name: string;
  job: TunnelJob;
  clock: Clock;
  addressChanges?: SubscribeAddresses;
  /** Called after every change of the status (the state, a count, the last error). */
  onStatus?: (status: TunnelStatus) => void;
  /** The supervisor's lines (round failed, next round in N s, punching again), for the tunnel's logger. */
  onLog?: (level: "info" | "warn" | "error", message: string) => void;
  /** Which failures another round may fix. @default a NetpunchError whose code is in RETRYABLE_CODES */
  retryable?: (e: unknown) => boolean;
  /** Stops the tunnel: the running round is aborted and awaited, then `done` resolves. */
  signal?: AbortSignal;
}

export interface TunnelHandle {
  readonly name: string;
  status(): TunnelStatus;
  /** Starts a round now: a failed tunnel's explicit retry, or a backoff cut short. */
  retry(): void;
  /** Stops the tunnel and resolves once its running round (if any) has ended. */
  stop(): Promise<void>;
  /** Resolves once stopped and no round runs. Never rejects. */
  readonly done: Promise<void>;
}

const WAITING_EVENTS: ReadonlySet<NetpunchEvent["type"]> = new Set([
  "waiting",
  "still-waiting",
  "partner-lost",
]);

const defaultRetryable = (e: unknown): boolean => e instanceof NetpunchError && RETRYABLE_CODES.has(e.code);

/** A thrown value as a status line's error: a NetpunchError's code and message, anything else a bug. */
export function tunnelError(e: unknown): TunnelError {
  if (e instanceof NetpunchError)
    return { code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}) };
  return { code: "E_INTERNAL", message: e instanceof Error ? e.message : String(e) };
}

/**
 * Runs one tunnel under a TunnelSupervisor: carries out its actions with the job, feeds back what the job
 * reports, and arms its one timer on `clock`. Each round has its own AbortController, and a late report of an
 * earlier round (an event after its end) is ignored. Starts at once.
 */
export function runTunnel(o: RunTunnelOptions): TunnelHandle {
  const { clock, job } = o;
  const retryable = o.retryable ?? defaultRetryable;
  const machine = new TunnelSupervisor(clock.now());
  /** The running round: its number (to ignore late reports) and its controller. */
  let round: { id: number; controller: AbortController } | undefined;
  let rounds = 0;
  let cancelWake: () => void = () => {};
  let finish: () => void = () => {};
  const done = new Promise<void>((r) => {
    finish = r;
  });
  let finished = false;

  // Inputs that arrive while one is being carried out (a job that reports synchronously) wait their turn, so
  // the timer armed last is always the machine's latest wish.
  const queue: SupervisorInput[] = [];
  let feeding = false;
  const feed = (input: SupervisorInput): void => {
    queue.push(input);
    if (feeding) return;
    feeding = true;
    try {
      for (let next = queue.shift(); next; next = queue.shift()) feedOne(next);
    } finally {
      feeding = false;
    }
  };
  const feedOne = (input: SupervisorInput): void => {
    if (finished) return;
    const out = machine.step(input);
    for (const a of out.actions) carry(a);
    cancelWake();
    cancelWake = () => {};
    if (out.wakeAt !== undefined)
      cancelWake = clock.setTimer(out.wakeAt - clock.now(), () => feed({ type: "tick", now: clock.now() }));
    const status = machine.status();
    safely(() => o.onStatus?.(status));
    if (status.state === "stopped" && !machine.busy) {
      finished = true;
      unsubscribe();
      o.signal?.removeEventListener("abort", stop);
      finish();
    }
  };

  const current = (id: number): boolean => round?.id === id;
  /** A job's call of round `id` has ended; `continues`: a punch whose round goes on with its tunnel. */
  const ended = (id: number, input: (now: number) => SupervisorInput, continues = false): void => {
    if (!current(id)) return;
    if (!continues) round = undefined;
    feed(input(clock.now()));
    if (continues && !machine.busy && current(id)) round = undefined; // stopped or aborted: no tunnel
  };

  const carry = (a: SupervisorAction): void => {
    switch (a.kind) {
      case "punch": {
        const id = ++rounds;
        const controller = new AbortController();
        round = { id, controller };
        const onEvent = (e: NetpunchEvent) => {
          if (!current(id) || controller.signal.aborted) return;
          // Registered with no partner yet, still so, or sent back to waiting by a partner that vanished.
          if (WAITING_EVENTS.has(e.type)) feed({ type: "waiting", now: clock.now() });
          else if (e.type === "matched") feed({ type: "matched", now: clock.now() });
        };
        attempt(() => job.punch(controller.signal, onEvent)).then(
          (result) => ended(id, (now) => ({ type: "punched", now, result }), true),
          (e) =>
            ended(id, (now) => ({
              type: "punch-failed",
              now,
              error: tunnelError(e),
              retryable: retryable(e),
            })),
        );
        return;
      }
      case "tunnel": {
        const r = round;
        if (!r) return; // the machine asks for a tunnel only right after its round's punch
        attempt(() => job.tunnel(a.result, r.controller.signal)).then(
          (why) => ended(r.id, (now) => ({ type: "tunnel-ended", now, reason: why || "it ended" })),
          (e) =>
            ended(r.id, (now) => ({
              type: "tunnel-ended",
              now,
              reason: tunnelError(e).message,
              error: tunnelError(e),
              retryable: retryable(e),
            })),
        );
        return;
      }
      case "abort":
        round?.controller.abort();
        return;
      case "log": {
        const { level, message } = a;
        safely(() => o.onLog?.(level, message));
        return;
      }
    }
  };

  const stop = (): void => feed({ type: "stop", now: clock.now() });
  const unsubscribe =
    o.addressChanges?.(() => feed({ type: "addresses-changed", now: clock.now() })) ?? (() => {});
  o.signal?.addEventListener("abort", stop, { once: true });
  if (o.signal?.aborted) stop();
  else feed({ type: "start", now: clock.now() });

  return {
    name: o.name,
    status: () => machine.status(),
    retry: () => feed({ type: "start", now: clock.now() }),
    stop: async () => {
      stop();
      await done;
    },
    done,
  };
}

/** Calls `f`, turning a synchronous throw into a rejection: a job that throws costs its round, never the driver. */
const attempt = <T>(f: () => Promise<T>): Promise<T> => {
  try {
    return Promise.resolve(f());
  } catch (e) {
    return Promise.reject(e);
  }
};

/** A callback's throw is the caller's bug; it must not stop the supervision. */
const safely = (f: () => void): void => {
  try {
    f();
  } catch {
    // swallowed on purpose: see above
  }
};

import { Backoff } from "../backoff.ts";
import type { PunchResult } from "../types.ts";
import { HEALTHY_ROUND_MS, ROUND_RETRY } from "./retry.ts";

/**
 * The least time between two re-punches for address changes. A flapping interface (Wi-Fi that drops every
 * second) then costs at most one round per 5 s, a few packets to the server each; a real move to another
 * network waits at most 5 s more than it would have.
 */
export const ADDRESS_REPUNCH_GAP_MS = 5_000;

export type TunnelState =
  /** Registered with the server; the partner is not there yet. */
  | "waiting"
  /** A round is on: registering, or punching once matched. */
  | "punching"
  /** Punched; the tunnel (the hooks) runs. */
  | "up"
  /** The last round failed or the tunnel ended; the next round starts at `retryAt`. */
  | "backing-off"
  /** A failure another round would only repeat (a bad secret, a changed pinned key): only `start` retries. */
  | "failed"
  /** Not started, or stopped. */
  | "stopped";

export interface TunnelError {
  code: string;
  message: string;
  /** What to do about it, when the error says (a refused key: the command that accepts the new one). */
  hint?: string;
}

/** What `status` shows of one tunnel: the machine's state and what it counted. */
export interface TunnelStatus {
  state: TunnelState;
  /** Since when the tunnel is in `state` (ms since the epoch). */
  since: number;
  /** The last punch's path, addresses and RTT; kept while backing off, to show where it was. */
  path?: PunchResult["via"];
  local?: string;
  remote?: string;
  rttMs?: number;
  /** When the tunnel came up, while `up`. */
  upSince?: number;
  /** While `backing-off`: when the next round starts. */
  retryAt?: number;
  /** Punch rounds started. */
  rounds: number;
  /** Rounds started because a tunnel that was up ended, or the host's addresses changed. */
  repunches: number;
  lastError?: TunnelError;
}

/** Why a tunnel that was up ended, in words (the job's own, or the driver's). */
export type TunnelEnd = { reason: string; error?: TunnelError; retryable?: boolean };

export type SupervisorInput =
  | { type: "start"; now: number }
  | { type: "tick"; now: number }
  /** The punch registered and waits for the partner. */
  | { type: "waiting"; now: number }
  /** The server paired us; punching. */
  | { type: "matched"; now: number }
  | { type: "punched"; now: number; result: PunchResult }
  | { type: "punch-failed"; now: number; error: TunnelError; retryable: boolean }
  /** The tunnel's job returned or threw: its program exited, its handshake went stale, it was aborted. */
  | ({ type: "tunnel-ended"; now: number } & TunnelEnd)
  | { type: "addresses-changed"; now: number }
  | { type: "stop"; now: number };

export type SupervisorAction =
  /** Start a punch round. The machine asks for one only when no round runs. */
  | { kind: "punch" }
  /** Start the tunnel on this result. */
  | { kind: "tunnel"; result: PunchResult }
  /** Abort the running round (punch or tunnel); its end comes back as `punch-failed`/`punched`/`tunnel-ended`. */
  | { kind: "abort" }
  /** A line worth logging, tagged by the driver with the tunnel's name. */
  | { kind: "log"; level: "info" | "warn" | "error"; message: string };

export interface SupervisorStep {
  actions: SupervisorAction[];
  /** When the machine wants a `tick`; undefined when it waits only for inputs. */
  wakeAt: number | undefined;
}

/** What to do once the running round has ended, after an `abort`. */
type AfterAbort = "repunch" | "stop";

/**
 * One tunnel's supervision as a pure state machine: inputs are the time and what the punch and the tunnel
 * report; outputs are the rounds to start or abort and lines to log. At most one round (a punch, then its
 * tunnel) runs at a time: a new one is asked for only once the running one has reported its end, so the
 * driver can never leave an orphan behind. Failures back off as `connect --loop` does (ROUND_RETRY), a
 * tunnel up for HEALTHY_ROUND_MS starts the pauses over, and a failure no retry can fix stays `failed`.
 */
export class TunnelSupervisor {
  private s: TunnelStatus;
  private running: "none" | "punch" | "tunnel" = "none";
  private after: AfterAbort | undefined;
  private pauses = new Backoff(ROUND_RETRY);
  /** Whether the next round is a re-punch (a tunnel was up, or the addresses changed). */
  private nextIsRepunch = false;
  private lastAddressRepunchAt = Number.NEGATIVE_INFINITY;
  /** A re-punch for an address change held back by ADDRESS_REPUNCH_GAP_MS: due then. */
  private addressRepunchAt: number | undefined;
  private out: SupervisorAction[] = [];

  constructor(now: number) {
    this.s = { state: "stopped", since: now, rounds: 0, repunches: 0 };
  }

  /** A copy of the status, safe to hand out. */
  status(): TunnelStatus {
    return { ...this.s, ...(this.s.lastError ? { lastError: { ...this.s.lastError } } : {}) };
  }

  /** Whether a round (punch or tunnel) runs: the driver's job is still in flight. */
  get busy(): boolean {
    return this.running !== "none";
  }

  step(input: SupervisorInput): SupervisorStep {
    this.out = [];
    this.apply(input);
    return { actions: this.out, wakeAt: this.wakeAt() };
  }

  private apply(i: SupervisorInput): void {
    switch (i.type) {
      case "start":
        // From stopped or failed (the explicit retry), or a backoff cut short; a running round goes on.
        if (this.running !== "none") {
          if (this.after === "stop") this.after = "repunch";
          return;
        }
        if (this.s.state === "failed") this.pauses = new Backoff(ROUND_RETRY);
        return this.punch(i.now);
      case "tick":
        if (this.addressRepunchAt !== undefined && i.now >= this.addressRepunchAt) {
          this.addressRepunchAt = undefined;
          return this.addressRepunch(i.now);
        }
        if (this.s.state === "backing-off" && this.s.retryAt !== undefined && i.now >= this.s.retryAt)
          return this.punch(i.now);
        return;
      case "waiting":
        if (this.running === "punch" && this.after === undefined) this.enter("waiting", i.now);
        return;
      case "matched":
        if (this.running === "punch" && this.after === undefined) this.enter("punching", i.now);
        return;
      case "punched":
        if (this.running !== "punch") return;
        this.running = "none";
        if (this.after) return this.afterAbort(i.now);
        this.s.path = i.result.via;
        this.s.local = i.result.laddr;
        this.s.remote = i.result.raddr;
        this.s.rttMs = i.result.rttMs;
        this.s.upSince = i.now;
        this.enter("up", i.now);
        this.running = "tunnel";
        this.out.push({ kind: "tunnel", result: i.result });
        return;
      case "punch-failed":
        if (this.running !== "punch") return;
        this.running = "none";
        if (this.after) return this.afterAbort(i.now);
        this.s.lastError = { ...i.error };
        if (!i.retryable) return this.fail(i.now, i.error);
        return this.backOff(i.now, `round ${this.s.rounds}: [${i.error.code}] ${i.error.message}`);
      case "tunnel-ended": {
        if (this.running !== "tunnel") return;
        this.running = "none";
        const upFor = i.now - (this.s.upSince ?? i.now);
        delete this.s.upSince;
        if (this.after) return this.afterAbort(i.now);
        if (i.error) this.s.lastError = { ...i.error };
        if (i.error && i.retryable === false) return this.fail(i.now, i.error);
        if (upFor >= HEALTHY_ROUND_MS) this.pauses = new Backoff(ROUND_RETRY);
        this.nextIsRepunch = true;
        return this.backOff(i.now, `the tunnel ended (${i.reason}); punching again`);
      }
      case "addresses-changed":
        if (this.s.state === "stopped" || this.s.state === "failed") return;
        if (i.now < this.lastAddressRepunchAt + ADDRESS_REPUNCH_GAP_MS) {
          this.addressRepunchAt ??= this.lastAddressRepunchAt + ADDRESS_REPUNCH_GAP_MS;
          return;
        }
        return this.addressRepunch(i.now);
      case "stop":
        this.addressRepunchAt = undefined;
        delete this.s.retryAt;
        delete this.s.upSince;
        if (this.running !== "none" && this.after === undefined) this.out.push({ kind: "abort" });
        if (this.running !== "none") this.after = "stop";
        return this.enter("stopped", i.now);
    }
  }

  /** Re-punch at once for new addresses: the running round is aborted, a backoff is cut short. */
  private addressRepunch(now: number): void {
    if (this.s.state === "stopped" || this.s.state === "failed") return;
    this.lastAddressRepunchAt = now;
    this.nextIsRepunch = true;
    this.log("info", "the host's addresses changed; punching again");
    if (this.running === "none") return this.punch(now);
    if (this.after === undefined) this.out.push({ kind: "abort" });
    this.after = "repunch";
  }

  private afterAbort(now: number): void {
    const after = this.after;
    this.after = undefined;
    if (after === "repunch") this.punch(now);
  }

  private punch(now: number): void {
    this.s.rounds++;
    if (this.nextIsRepunch) this.s.repunches++;
    this.nextIsRepunch = false;
    delete this.s.retryAt;
    this.running = "punch";
    this.enter("punching", now);
    this.out.push({ kind: "punch" });
  }

  private backOff(now: number, why: string): void {
    const at = this.pauses.sent(now);
    this.s.retryAt = at;
    this.enter("backing-off", now);
    this.log("warn", `${why}; next round in ${Math.round((at - now) / 1000)} s`);
  }

  private fail(now: number, e: TunnelError): void {
    delete this.s.retryAt;
    this.addressRepunchAt = undefined;
    this.enter("failed", now);
    this.log(
      "error",
      `failed: [${e.code}] ${e.message}; not retrying (a retry would fail the same way)${e.hint ? `; ${e.hint}` : ""}`,
    );
  }

  private enter(state: TunnelState, now: number): void {
    if (this.s.state !== state) this.s.since = now;
    this.s.state = state;
  }

  private log(level: "info" | "warn" | "error", message: string): void {
    this.out.push({ kind: "log", level, message });
  }

  private wakeAt(): number | undefined {
    const retry = this.s.state === "backing-off" ? this.s.retryAt : undefined;
    const address = this.addressRepunchAt;
    if (retry === undefined) return address;
    return address === undefined ? retry : Math.min(retry, address);
  }
}

// Fixtures for the supervisor's tests (not a test file itself): a punch result and a job driven by hand.
import { NetpunchError } from "../../../src/errors.ts";
import type { NetpunchEvent, PunchResult } from "../../../src/types.ts";
import type { TunnelJob } from "../../../src/up/run-tunnel.ts";

export const T0 = 1_700_000_000_000;

export const RESULT: PunchResult = {
  role: "a",
  session: "home-office",
  laddr: "0.0.0.0:51820",
  lhost: "0.0.0.0",
  lport: 51820,
  raddr: "203.0.113.9:40000",
  rhost: "203.0.113.9",
  rport: 40000,
  via: "direct",
  candidate: "public",
  rttMs: 12,
  publicAddr: "198.51.100.4:51820",
};

/** Lets every settled promise's callbacks run (the driver reacts to a job's end in a later microtask). */
export const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

interface Call<T> {
  signal: AbortSignal;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
  settled: boolean;
}

export interface PunchCall extends Call<PunchResult> {
  onEvent: (e: NetpunchEvent) => void;
}
export interface TunnelCall extends Call<string | undefined> {
  result: PunchResult;
}

/**
 * A job whose rounds the test ends by hand. It counts how many of its calls run at once, and checks that
 * every earlier call had ended before a new one started (no orphan). With `honourAbort` (the default) an
 * aborted punch rejects with E_ABORTED and an aborted tunnel returns "aborted", as the real ones do.
 */
export class FakeJob implements TunnelJob {
  readonly punches: PunchCall[] = [];
  readonly tunnels: TunnelCall[] = [];
  running = 0;
  maxRunning = 0;
  /** Calls started while an earlier one had not ended: must stay 0. */
  orphans = 0;

  constructor(private readonly honourAbort = true) {}

  punch(signal: AbortSignal, onEvent: (e: NetpunchEvent) => void): Promise<PunchResult> {
    return this.track<PunchResult>(
      signal,
      (c) => this.punches.push(Object.assign(c, { onEvent })),
      () => {
        throw new NetpunchError("E_ABORTED", "aborted");
      },
    );
  }

  tunnel(result: PunchResult, signal: AbortSignal): Promise<string | undefined> {
    return this.track<string | undefined>(
      signal,
      (c) => this.tunnels.push(Object.assign(c, { result })),
      () => "aborted",
    );
  }

  get lastPunch(): PunchCall {
    const p = this.punches.at(-1);
    if (!p) throw new Error("no punch yet");
    return p;
  }

  get lastTunnel(): TunnelCall {
    const t = this.tunnels.at(-1);
    if (!t) throw new Error("no tunnel yet");
    return t;
  }

  private track<T>(signal: AbortSignal, record: (c: Call<T>) => void, onAbort: () => T): Promise<T> {
    if (this.running > 0) this.orphans++;
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    return new Promise<T>((resolve, reject) => {
      const call: Call<T> = {
        signal,
        settled: false,
        resolve: (v) => {
          if (call.settled) return;
          call.settled = true;
          this.running--;
          resolve(v);
        },
        reject: (e) => {
          if (call.settled) return;
          call.settled = true;
          this.running--;
          reject(e);
        },
      };
      if (this.honourAbort)
        signal.addEventListener("abort", () => {
          try {
            call.resolve(onAbort());
          } catch (e) {
            call.reject(e);
          }
        });
      record(call);
    });
  }
}

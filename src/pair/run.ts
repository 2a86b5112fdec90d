// pair(): the pairing handshake carried through the rendezvous server by two ordinary connect()s, so the
// server only forwards, authenticated with its admission secret like every packet:
// 1. connect() in the nameplate's session, each side's offer its PAKE message: the MATCH hands each side the
//    other's. The server sees two CPace shares (uniformly random group elements) and the tunnel offers (public
//    keys); nothing it could test a guessed code against offline.
// 2. connect() in the nameplate's confirmation session, each side's offer its confirmation tag. Each checks the partner's: a wrong code, or a message the server
//    altered, fails on both sides here, at once.
// The code dies with the attempt: the first side makes a fresh code (and scalar) for every run.
import { Fail, NetpunchError } from "../errors.ts";
import { type ConnectOptions, connect as realConnect } from "../punch/connect.ts";
import type { PunchResult, Role } from "../types.ts";
import type { PairCode } from "./code.ts";
import { codeSession, confirmSession } from "./derive.ts";
import { checkConfirmation, finishPake, startPake } from "./pake.ts";

/**
 * @default 30 s: how long the confirmation exchange may take once both sides met; both start it the moment
 * their first exchange ends, so it takes a server RTT and a punch, and only a partner that vanished is slower.
 */
export const CONFIRM_TIMEOUT_MS = 30_000;

export interface PairOptions {
  /** Passed to both connect()s: server, secret, local, lan, relay timings, and for tests transport, clock... */
  connect: Omit<ConnectOptions, "role" | "session" | "offer" | "timeoutMs" | "signal">;
  /** a: made the code and waits for the partner; b: joins with the code. */
  role: Role;
  code: PairCode;
  /** This side's tunnel offer (pair-offer.ts), sent as CPace's AD. */
  offer: Uint8Array;
  /** 32 bytes from a CSPRNG: the PAKE's secret scalar. */
  random32: Uint8Array;
  /** How long to wait for the partner in the first exchange. @default Infinity */
  timeoutMs?: number;
  /** @default CONFIRM_TIMEOUT_MS */
  confirmTimeoutMs?: number;
  signal?: AbortSignal;
  /** For tests: another connect(). */
  connectFn?: (o: ConnectOptions) => Promise<PunchResult>;
}

export interface Paired {
  /** The long-term pair key, proven by both sides. */
  pairKey: Uint8Array;
  /** The partner's tunnel offer, authenticated by the PAKE (the server could not have changed it). */
  partnerOffer: Uint8Array;
}

/** Runs `step`, turning its E_TIMEOUT into `onTimeout()`. */
async function orOnTimeout(step: Promise<PunchResult>, onTimeout: () => NetpunchError): Promise<PunchResult> {
  try {
    return await step;
  } catch (e) {
    if (e instanceof NetpunchError && e.code === "E_TIMEOUT") throw onTimeout();
    throw e;
  }
}

/**
 * Pairs with the host holding the same code. Throws E_PAIR when the code is wrong or expired (nobody came in
 * `timeoutMs`: `code-expired` for a, `nobody-waiting` for b) or the partner never confirmed; connect()'s own
 * errors (a silent server, a failed punch) as they are.
 * @example
 * const { pairKey, partnerOffer } = await pair({ connect: { server, secret }, role: "b", code, offer, random32 });
 */
export async function pair(o: PairOptions): Promise<Paired> {
  const connect = o.connectFn ?? realConnect;
  const base = { ...o.connect, role: o.role, ...(o.signal ? { signal: o.signal } : {}) };
  const start = startPake({ role: o.role, code: o.code, ad: o.offer, random32: o.random32 });
  const waitMs = o.timeoutMs ?? Number.POSITIVE_INFINITY;
  const seconds = Math.round(waitMs / 1000);
  const met = await orOnTimeout(
    connect({ ...base, session: codeSession(o.code.nameplate), offer: start.message, timeoutMs: waitMs }),
    () => (o.role === "a" ? Fail.codeExpired(seconds) : Fail.nobodyWaiting(o.code.nameplate, seconds)),
  );
  const keys = finishPake(start.state, met.partnerOffer);
  const confirmed = await orOnTimeout(
    connect({
      ...base,
      session: confirmSession(o.code.nameplate),
      offer: keys.tag,
      timeoutMs: o.confirmTimeoutMs ?? CONFIRM_TIMEOUT_MS,
    }),
    () => Fail.pairFailed("no-confirmation"),
  );
  checkConfirmation(keys, confirmed.partnerOffer);
  return { pairKey: keys.pairKey, partnerOffer: keys.partnerAd };
}

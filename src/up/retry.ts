import type { BackoffSchedule } from "../backoff.ts";

/**
 * The failures worth another round: the network, the partner or the tunnel may come back. Anything else (a
 * bad secret, a usage error, a pinned key that changed) fails the same way every time, so retrying it would
 * only loop.
 */
export const RETRYABLE_CODES: ReadonlySet<string> = new Set([
  "E_SERVER_SILENT",
  "E_TIMEOUT",
  "E_PUNCH_FAILED",
  "E_PORT_IN_USE",
  "E_HOOK",
  "E_RESOLVE",
]);

/**
 * The pause between rounds (connect --loop, and each tunnel of `up`): 1 s, doubled after each round, at most
 * a minute. A second is enough for a partner that restarts; a minute bounds both the wait once the cause is
 * gone and the load of a peer whose partner is away for hours (one REGISTER exchange a minute).
 */
export const ROUND_RETRY: BackoffSchedule = {
  firstMs: 1_000,
  factor: 2,
  maxMs: 60_000,
  maxTries: Number.POSITIVE_INFINITY,
};

/** A round (or a tunnel that was up) this long was healthy: the pauses start over at ROUND_RETRY's first. */
export const HEALTHY_ROUND_MS = 60_000;

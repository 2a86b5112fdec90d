/** What `/healthz` answers: serving, or why not in one line. */
export type Health = { ok: true } | { ok: false; reason: string };

export const HEALTHY: Health = { ok: true };

/**
 * Something that can tell whether it works right now, e.g. a shared store answering a PING. A store that
 * implements it is asked on every `/healthz`; one that does not is taken as reachable (the memory store).
 */
export interface HealthReporting {
  /** Should settle quickly; the caller gives up after HEALTH_TIMEOUT_MS and reports the check as failed. */
  health(): Promise<Health>;
}

/**
 * @default 2_000 ms: a store that has not answered a health check in 2 s is as good as unreachable for a
 * server that asks it on every packet, and it stays under the 10 s scrape timeout Prometheus uses.
 */
export const HEALTH_TIMEOUT_MS = 2_000;

export const reportsHealth = (x: unknown): x is HealthReporting =>
  typeof x === "object" && x !== null && typeof (x as { health?: unknown }).health === "function";

/**
 * The first check that fails, in order, or healthy. A check that throws or does not answer within
 * `timeoutMs` fails with what it says, so `/healthz` is always answered, and answered in bounded time.
 */
export async function firstFailure(
  checks: readonly (() => Health | Promise<Health>)[],
  timeoutMs = HEALTH_TIMEOUT_MS,
): Promise<Health> {
  for (const check of checks) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<Health>((resolve) => {
      timer = setTimeout(
        () => resolve({ ok: false, reason: "a health check did not answer in time" }),
        timeoutMs,
      );
    });
    const h = await Promise.race([
      Promise.resolve()
        .then(check)
        .catch(
          (e: unknown): Health => ({
            ok: false,
            reason: oneLine(e instanceof Error ? e.message : String(e)),
          }),
        ),
      late,
    ]);
    clearTimeout(timer);
    if (!h.ok) return { ok: false, reason: oneLine(h.reason) };
  }
  return HEALTHY;
}

/** A reason as one line: line breaks would split the 503 body. */
const oneLine = (s: string): string => s.replace(/[\r\n]+/g, " ").trim() || "unhealthy";

/**
 * Resolves after `ms`, or as soon as `signal` aborts; it never rejects, so a hook's polling loop checks
 * `signal.aborted` after it rather than catching. The listener goes with the timer: a long-lived signal does
 * not collect one listener per wait.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

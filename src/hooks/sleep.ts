import { systemClock } from "../sys/clock.ts";
import { sleep as sleepOn } from "../sys/settle.ts";

/**
 * Resolves after `ms`, or as soon as `signal` aborts; it never rejects, so a hook's polling loop checks
 * `signal.aborted` after it rather than catching. The listener goes with the timer (settleOnce): a long-lived
 * signal does not collect one listener per wait.
 */
export const sleep = (ms: number, signal?: AbortSignal): Promise<void> => sleepOn(systemClock, ms, signal);

import { constants } from "node:os";
import { stopAllChildrenNow } from "../hooks/child.ts";

/**
 * Process-wide cancellation: SIGINT/SIGTERM abort this signal, and every command passes it down so sockets,
 * timers and child processes end cleanly instead of the process being killed mid-way.
 */
const controller = new AbortController();
export const shutdown = controller.signal;
export let shutdownSignal: NodeJS.Signals | undefined;

/**
 * @default 1_000: after a second signal, the hooks' programs have been SIGKILLed, so the normal path ends in
 * milliseconds (reap, close sockets); past this, something else hangs (a silent gateway while a port mapping
 * is removed) and netpunch exits anyway.
 */
export const FORCE_EXIT_MS = 1_000;

/** 128 + the signal's number, as a shell reports death by that signal: 130 for SIGINT, 143 for SIGTERM. */
export const signalExitCode = (sig: NodeJS.Signals): number => 128 + (constants.signals[sig] ?? 2);

export function installSignalHandlers(): void {
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.on(sig, () => {
      if (!controller.signal.aborted) {
        shutdownSignal = sig;
        controller.abort();
        return;
      }
      // A second signal means "now": the children's groups get SIGKILL instead of the rest of their grace.
      // The exit code stays the one the shutdown gives: GNU timeout, for one, sends its signal twice (to
      // netpunch, then to its own process group), and whether the second lands before or after the first
      // was handled must not change the result.
      stopAllChildrenNow();
      setTimeout(() => process.exit(signalExitCode(shutdownSignal ?? sig)), FORCE_EXIT_MS).unref();
    });
  }
  // However netpunch exits (an error, process.exit), no child's group outlives it.
  process.on("exit", stopAllChildrenNow);
}
